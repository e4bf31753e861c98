#include "proxy/listen.h"

#include <sys/socket.h>

namespace portico::proxy {

Result<tcp::acceptor> listenOn(net::io_context& ioc, const std::string& address, std::uint16_t port,
                               bool reuse_port) {
  error_code ec;
  const auto ip = net::ip::make_address(address, ec);
  if (ec) {
    return Error{"--bind " + address + ": not an IP address"};
  }
  const tcp::endpoint ep(ip, port);
  tcp::acceptor acceptor(ioc);
  acceptor.open(ep.protocol(), ec);
  if (!ec) {
    acceptor.set_option(net::socket_base::reuse_address(true), ec);
  }
  if (!ec && reuse_port) {
    const int one = 1;
    if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
      ec = error_code(errno, boost::system::system_category());
    }
  }
  if (!ec) {
    acceptor.bind(ep, ec);
  }
  if (!ec) {
    acceptor.listen(net::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    return Error{"listen on " + address + ":" + std::to_string(port) + ": " + ec.message()};
  }
  return acceptor;
}

}  // namespace portico::proxy
