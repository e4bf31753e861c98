#pragma once
// Checking a parsed request head before anything of it is trusted (RFC 9112 sections 2.2, 3, 6
// and 7; RFC 9110 section 7.6.1). Internal to src/proxy; pure functions, any thread.
//
// The parser (h1_parser.h) has already rejected what does not parse (bad tokens, control
// characters, bare LF, obs-fold, a second Content-Length). What is left for a proxy is what a
// server may accept but an intermediary must not pass on ambiguously:
//   - a second Host, or a Host that is not uri-host[:port]               -> 400
//   - Transfer-Encoding with Content-Length, or not ending in chunked    -> 400
//   - a transfer coding other than chunked (nginx does the same)         -> 501
//   - more Connection tokens than kMaxConnectionTokens, or a bad token   -> 400
//   - a target that is neither origin-form nor absolute-form http(s)     -> 400
//   - a path whose dot segments climb above the root                     -> 400
//   - HTTP/2 and later on this HTTP/1 listener                           -> 505
// Everything the proxy derives (routing host, normalized path, framing) comes from here and
// from the parser's state, never from a field copied as the peer sent it.

#include "proxy/h1_parser.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portico::proxy {

// Connection tokens past this many are a 400: a real client names one or two.
inline constexpr std::size_t kMaxConnectionTokens = 16;

struct RequestInfo {
  // Routing: the authority of an absolute-form target, else the Host field (empty when an
  // HTTP/1.0 client sent none). Validated; port and case not yet stripped.
  std::string_view host;
  bool absolute_form = false;
  // The target as the upstream gets it: origin-form, the query kept, otherwise as received
  // (nginx sends the original target; a rewrite policy may change it later).
  std::string_view origin_target;
  // The path the routes match: dot segments resolved, %2e decoded, slashes merged. A view of
  // the target when it needed no change, else of the caller's buffer.
  std::string_view path;
  std::optional<std::uint64_t> content_length;  // from the parser
  bool chunked = false;                         // from the parser
  unsigned version = 11;                        // 10 or 11 (1.2 and later minor versions: 11)
  bool upgrade = false;          // Upgrade with a Connection "upgrade" token, HTTP/1.1
  bool expect_continue = false;  // Expect: 100-continue from an HTTP/1.1 client
  bool keep_alive = true;
};

// Returns 0 when the head may be proxied (and fills `info`), else the status to answer.
// `path_buf` backs info.path when normalization changed it; it must outlive info.
unsigned checkRequestHead(const MessageHead& req, bool chunked,
                          std::optional<std::uint64_t> content_length, RequestInfo& info,
                          std::string& path_buf);

// uri-host [ ":" port ] (RFC 9112 3.2, RFC 3986 3.2.2): reg-name, IPv4 or a bracketed IPv6
// literal; no userinfo, no whitespace, no path. Empty is valid (an undefined authority).
bool isValidHost(std::string_view host);

// Normalizes an origin-form path for matching, as nginx does before choosing a location:
// "%2e"/"%2E" decoded, "//" merged, "." and ".." segments resolved. Returns false when ".."
// climbs above the root. `out` receives the result only when it differs from `path`
// (*changed set); otherwise the caller keeps using `path`.
bool normalizePath(std::string_view path, std::string& out, bool* changed);

// Safe to send twice (RFC 9110 9.2.2); extension methods are not.
bool isIdempotent(std::string_view method);

}  // namespace portico::proxy
