#pragma once
// HTTP helpers shared by the proxy's sessions. Internal to src/proxy.
//
// Heads are written as one contiguous string rather than through Beast's serializer: one
// buffer per write instead of a dozen small ones, and no edits to Beast's field list (each an
// allocation) on the request path.

#include "proxy/net.h"

#include <cstddef>
#include <ctime>
#include <string>
#include <string_view>

namespace portico::proxy {

// The path of a request target without its query: origin-form "/a?b" gives "/a"; absolute-form
// "http://h/a?b" gives "/a" and sets *authority to "h".
std::string_view requestPath(std::string_view target, std::string_view* authority);

// Safe to send twice (RFC 9110 9.2.2).
bool isIdempotent(http::verb method);

// RFC 9110 IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
std::string httpDate(std::time_t t);

// What the proxy adds to a request on its way upstream.
struct UpstreamRequestHead {
  std::string_view client_address;  // appended to X-Forwarded-For
  std::string_view host;            // X-Forwarded-Host
  std::string_view listener_port;   // X-Forwarded-Port
  std::string_view request_id;      // X-Request-Id, when the request has none; empty: none
  bool chunked = false;             // the body goes on chunked
  std::string_view upgrade;         // non-empty: an Upgrade request, tunnelled after a 101
};

// Appends the head sent upstream: request line (always HTTP/1.1), the client's fields without
// hop-by-hop ones (RFC 9110 7.6.1: Connection and every field it names, Keep-Alive,
// Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade), without Expect and the
// X-Forwarded-* fields the proxy sets itself, then the proxy's fields, then CRLF.
void appendRequestHead(const http::request_header<>& req, const UpstreamRequestHead& head,
                       std::string& out);

enum class ConnectionHeader { kNone, kClose, kKeepAlive, kUpgrade };

struct ClientResponseHead {
  std::string_view date;
  bool chunked = false;  // the body goes on chunked
  ConnectionHeader connection = ConnectionHeader::kNone;
  std::string_view upgrade;  // with kUpgrade
};

// Appends the head sent to the client: status line (HTTP/1.1, the upstream's reason), the
// upstream's fields without hop-by-hop ones, Server and Date, then the proxy's fields.
void appendResponseHead(const http::response_header<>& res, const ClientResponseHead& head,
                        std::string& out);

// A response the proxy makes itself: "404 Not Found\n" as text/plain.
void appendLocalResponse(unsigned status, std::string_view date, bool keep_alive, bool head_only,
                         std::string& out);

// Chunked framing: "1f40\r\n" for n = 8000. Returns the length written into buf (>= 18 bytes).
std::size_t chunkPrefix(std::size_t n, char* buf);

}  // namespace portico::proxy
