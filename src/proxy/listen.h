#pragma once
// Opens a listening TCP socket: open, SO_REUSEADDR, optionally SO_REUSEPORT (each proxy worker
// binds its own acceptor to the same port), bind, listen. Errors name the address.

#include "common/result.h"
#include "proxy/net.h"

#include <string>

namespace portico::proxy {

Result<tcp::acceptor> listenOn(net::io_context& ioc, const std::string& address, std::uint16_t port,
                               bool reuse_port);

}  // namespace portico::proxy
