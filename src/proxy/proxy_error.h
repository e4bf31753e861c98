#pragma once
// Why a request failed, where, on which side, and whether it may be tried again (after
// Pingora's Error: ErrorSource and RetryType). proxyErrorStatus() is the one mapping to the
// status sent. Internal to src/proxy; plain values.

#include <cstdint>

namespace portico::proxy {

// The request phases, named the same in code, logs and metrics (docs/architecture.md).
enum class Phase : std::uint8_t {
  kReadHeader,
  kRoute,
  kRequestPolicies,
  kAction,
  kSelectUpstream,
  kConnect,
  kForwardRequest,
  kUpstreamHeaders,
  kResponsePolicies,
  kForwardBody,
  kLog
};

enum class Cause : std::uint8_t {
  kMalformed,         // 400
  kUriTooLong,        // 414
  kHeadersTooLarge,   // 431
  kBodyTooLarge,      // 413
  kClientTimeout,     // 408
  kMethodNotAllowed,  // 405 (CONNECT)
  kNotImplemented,    // 501 (a transfer coding we do not forward)
  kVersion,           // 505
  kNoRoute,           // 404
  kNoEndpoint,        // 503
  kRefused,           // 502: refused, reset, closed
  kTimeout,           // 504
  kInvalidResponse,   // 502: the upstream's head or framing is not HTTP we pass on
  kClientAborted      // the client went away: nothing is answered (counted as 499)
};

// Who caused it: the client (downstream), an upstream, or portico itself.
enum class Side : std::uint8_t { kDownstream, kUpstream, kInternal };

struct ProxyError {
  Phase phase;
  Cause cause;
  Side side = Side::kDownstream;
  bool retry = false;  // may go to another endpoint (decided where the error is made)
};

unsigned proxyErrorStatus(const ProxyError& error);
// The status a head check returned, as a cause (400, 405, 414, 501, 505).
Cause causeForStatus(unsigned status);
const char* phaseName(Phase phase);
const char* causeName(Cause cause);

}  // namespace portico::proxy
