#pragma once
// Internal to src/proxy: what the route's non-forward actions and target-group stickiness need
// from a request: the Location of a Redirect, the stickiness cookie read and written, and the
// key ring_hash hashes. Pure functions over views; nothing here allocates once `out` has grown.
// Thread: any.

#include "proxy/h1_parser.h"
#include "proxy/request_head.h"
#include "snapshot/route.h"
#include "snapshot/snapshot.h"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace portico::proxy {

// The Location a Redirect action answers with: its templates filled from the request
// (DESIGN.md, "Routing semantics"). The port is left out when it is the protocol's default.
void redirectLocation(const snapshot::Redirect& redirect, const RequestInfo& info, bool tls,
                      std::string& out);

// The value of cookie `name` in the request's Cookie fields, or empty.
std::string_view cookieValue(const MessageHead& head, std::string_view name);

// The target group key a stickiness cookie carries (16 hex digits); 0 when absent or invalid.
std::uint64_t stickyKeyFrom(std::string_view value);

// "NAME=KEY; Max-Age=SECONDS; Path=/; HttpOnly" into `out`.
void stickyCookie(std::string_view name, std::uint64_t key, std::uint32_t seconds,
                  std::string& out);

// The key ring_hash places a request with; 0 when the request has none (then it is spread).
std::uint64_t ringHashKey(const snapshot::HashOn& on, const MessageHead& head,
                          const std::array<std::uint8_t, 16>* client_ip);

}  // namespace portico::proxy
