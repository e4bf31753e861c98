#pragma once
// The head writers, shared by the request path. Internal to src/proxy.
//
// Heads are written as one contiguous string rather than through Beast's serializer: one
// buffer per write instead of a dozen small ones, and no edits to a field list on the request
// path. Policies change heads only through HeaderEdits, which the
// writers apply in the same single pass.
//
// Framing and routing fields are never copied from what a peer sent: Host, Content-Length and
// Transfer-Encoding are written from the checked RequestInfo and the parser's state, and a
// Connection nomination never removes them, X-Forwarded-* or X-Request-Id (Pingora's
// proxy_common.rs does the same).

#include "proxy/net.h"
#include "proxy/request_head.h"

#include <array>
#include <cstddef>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace portico::proxy {

// RFC 9110 IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
std::string httpDate(std::time_t t);

// Header changes a policy asks for: fields to remove and fields to set (replacing every field of
// that name). Fixed capacity, so building one never allocates; the views must outlive the write
// (they point into the snapshot or the exchange). add*() returns false when full.
class HeaderEdits final {
 public:
  static constexpr std::size_t kMax = 16;
  bool remove(std::string_view name);
  bool set(std::string_view name, std::string_view value);
  // A field added beside any of the same name (Set-Cookie): it replaces nothing.
  bool append(std::string_view name, std::string_view value);
  bool empty() const { return removes_ == 0 && sets_ == 0; }
  void clear() { removes_ = sets_ = 0; }
  // True when a field of this name is removed or replaced by an edit.
  bool touches(std::string_view name) const;
  template <class F>
  void forEachSet(F&& f) const {
    for (std::size_t i = 0; i < sets_; ++i) {
      f(set_[i].first, set_[i].second);
    }
  }

 private:
  std::array<std::string_view, kMax> remove_{};
  std::array<std::pair<std::string_view, std::string_view>, kMax> set_{};
  std::array<bool, kMax> appended_{};  // set_[i] replaces nothing
  std::size_t removes_ = 0;
  std::size_t sets_ = 0;
};

// What the proxy adds to a request on its way upstream.
struct UpstreamRequestHead {
  const RequestInfo* info = nullptr;  // required: host, target and framing come from here
  std::string_view client_address;    // appended to X-Forwarded-For
  std::string_view listener_port;     // X-Forwarded-Port
  std::string_view proto = "http";    // X-Forwarded-Proto
  std::string_view request_id;        // X-Request-Id, when the request has none; empty: none
  std::string_view target;            // non-empty: replaces the origin-form target (rewrites)
  const HeaderEdits* edits = nullptr;
};

// Appends the head sent upstream: request line (origin-form, always HTTP/1.1), Host from the
// checked authority, the client's fields without hop-by-hop ones (RFC 9110 7.6.1: Connection
// and every field it names except the protected ones, Keep-Alive, Proxy-Connection, TE, Trailer,
// Transfer-Encoding, Upgrade), without Expect and the X-Forwarded-* fields the proxy sets
// itself, then the proxy's fields, the edits, and the framing, then CRLF.
void appendRequestHead(const MessageHead& req, const UpstreamRequestHead& head, std::string& out);

enum class ConnectionHeader { kNone, kClose, kKeepAlive, kUpgrade };

struct ClientResponseHead {
  std::string_view date;
  std::optional<std::uint64_t> content_length;  // from the upstream parser: written as is
  bool chunked = false;                         // the body goes on chunked
  ConnectionHeader connection = ConnectionHeader::kNone;
  std::string_view upgrade;  // with kUpgrade
  const HeaderEdits* edits = nullptr;
};

// Appends the head sent to the client: status line (HTTP/1.1, the upstream's reason), the
// upstream's fields without hop-by-hop and framing ones, Server and Date, the edits, then the
// framing and Connection the proxy decided.
void appendResponseHead(const MessageHead& res, const ClientResponseHead& head, std::string& out);

// A response the proxy makes itself: errors now, redirects and fixed responses later.
// A checked Host value split into host and port: "a.test:8080" -> ("a.test", "8080"),
// "[::1]:80" -> ("[::1]", "80"), "a.test" -> ("a.test", ""). IPv6 literals keep their brackets.
std::pair<std::string_view, std::string_view> splitHostPort(std::string_view host);

struct LocalResponse {
  unsigned status = 500;
  std::string_view content_type = "text/plain; charset=utf-8";
  std::string_view body;  // empty: "<code> <reason>\n"
  const HeaderEdits* headers = nullptr;
};
void appendLocalResponse(const LocalResponse& response, std::string_view date, bool keep_alive,
                         bool head_only, std::string& out);
inline void appendLocalResponse(unsigned status, std::string_view date, bool keep_alive,
                                bool head_only, std::string& out) {
  LocalResponse r;
  r.status = status;
  appendLocalResponse(r, date, keep_alive, head_only, out);
}

// Chunked framing: "1f40\r\n" for n = 8000. Returns the length written into buf (>= 18 bytes).
std::size_t chunkPrefix(std::size_t n, char* buf);

// Why a response head from an upstream cannot be passed on, or nullptr when it can: a transfer
// coding other than chunked (the client would get coded bytes without their label; nginx
// answers 502 too), or Transfer-Encoding beside Content-Length.
const char* responseHeadProblem(const MessageHead& res);

}  // namespace portico::proxy
