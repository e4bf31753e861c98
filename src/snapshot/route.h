#pragma once
// A route's typed action and policies (docs/architecture.md, "The extension point").
//
// Plain values, built by the compiler, compared whole by its table tests and printed by
// toJson(). Pure: no I/O, safe to read from any thread. The proxy runs them in its named phases:
// the action in `action`, each policy in the phases its functions under src/proxy/policy/ say.

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace portico::snapshot {

enum class PathMatch : std::uint8_t { kExact, kPrefix };

inline constexpr std::uint32_t kNoTargetGroup = 0xFFFFFFFFu;

struct WeightedTarget {
  std::uint32_t target_group = 0;  // index into Snapshot::targetGroups()
  std::uint32_t weight = 1;
  bool operator==(const WeightedTarget&) const = default;
};

// Forward to weighted target groups (one today; weights and stickiness come with the ALB
// routing issue, as do the Redirect and FixedResponse actions).
struct Forward {
  std::vector<WeightedTarget> targets;
  bool operator==(const Forward&) const = default;
};

using Action = std::variant<Forward>;

// A request body over max_bytes is refused with 413; 0 lifts the limit. From the Ingress
// annotation portico.dev/proxy-body-size (or nginx.ingress.kubernetes.io/proxy-body-size); it
// replaces --max-body-size for the Ingress's routes, as ingress-nginx's annotation does.
struct BodyLimit {
  std::uint64_t max_bytes = 0;
  bool operator==(const BodyLimit&) const = default;
};

// A request that came over plain HTTP is answered with a redirect to
// https://host[:port]/path?query. On the routes of hosts that have TLS (spec.tls), unless
// portico.dev/ssl-redirect: "false"; on any route with portico.dev/force-ssl-redirect: "true"
// (TLS terminated in front of portico). Phase: requestPolicies, first.
struct SslRedirect {
  std::uint16_t port = 443;  // the HTTPS port clients use (--https-redirect-port); 443 is omitted
  unsigned status = 308;
  bool operator==(const SslRedirect&) const = default;
};

// Strict-Transport-Security on responses to requests that came over HTTPS, on the routes of
// hosts that have TLS. Phase: responsePolicies. `value` is the header value, built once.
struct Hsts {
  std::string value;  // "max-age=31536000; includeSubDomains"
  bool operator==(const Hsts&) const = default;
};

// The alternative's index is the order policies run in within a phase; the compiler keeps each
// route's list sorted by it, one of each kind at most.
using Policy = std::variant<SslRedirect, BodyLimit, Hsts>;

// A policy's name, as in annotations, logs and toJson().
std::string_view policyName(const Policy& policy);

struct Route {
  PathMatch match = PathMatch::kPrefix;
  // Exact: the whole path. Prefix: normalised without a trailing '/', so "/" becomes "".
  std::string path;
  Action action;
  std::vector<Policy> policies;
  std::string ingress;  // "namespace/name" of the Ingress that declared it
  bool operator==(const Route&) const = default;

  bool matches(std::string_view request_path) const;
  // The target group a Forward action sends to first (today, its only one).
  std::uint32_t firstTargetGroup() const;
};

}  // namespace portico::snapshot
