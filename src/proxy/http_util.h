#pragma once
// HTTP helpers shared by the proxy's sessions. Internal to src/proxy.

#include "proxy/net.h"

#include <ctime>
#include <string>
#include <string_view>

namespace portico::proxy {

// Removes hop-by-hop fields (RFC 9110 7.6.1): Connection and every field it names, Keep-Alive,
// Proxy-Connection, TE, Trailer, Transfer-Encoding and Upgrade.
void removeHopByHop(http::fields& fields);

// The path of a request target without its query: origin-form "/a?b" gives "/a"; absolute-form
// "http://h/a?b" gives "/a" and sets *authority to "h".
std::string_view requestPath(std::string_view target, std::string_view* authority);

// Safe to send twice (RFC 9110 9.2.2).
bool isIdempotent(http::verb method);

// RFC 9110 IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
std::string httpDate(std::time_t t);

// Appends the client address to X-Forwarded-For, as the ALB does.
void appendForwardedFor(http::fields& fields, std::string_view client_address);

}  // namespace portico::proxy
