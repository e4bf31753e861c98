#pragma once
// A route's typed action and policies (docs/architecture.md, "The extension point").
//
// Plain values, built by the compiler, compared whole by its table tests and printed by
// toJson(). Pure: no I/O, safe to read from any thread. The proxy runs them in its named phases:
// the action in `action`, each policy in the phases its functions under src/proxy/policy/ say.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace portico::snapshot {

enum class PathMatch : std::uint8_t { kExact, kPrefix };

inline constexpr std::uint32_t kNoTargetGroup = 0xFFFFFFFFu;

struct WeightedTarget {
  std::uint32_t target_group = 0;  // index into Snapshot::targetGroups()
  std::uint32_t weight = 1;        // relative; 0 gets nothing
  // Stable across swaps (a hash of the target group's id): the stickiness cookie's value.
  std::uint64_t key = 0;
  bool operator==(const WeightedTarget&) const = default;
};

// Forward to weighted target groups: one (a plain Ingress backend), or several from
// portico.dev/actions.NAME. Weights split requests by smooth weighted round robin per worker.
struct Forward {
  std::vector<WeightedTarget> targets;
  // Target group stickiness: a client that carries the cookie keeps its target group (of
  // weight > 0) for `sticky_seconds`; 0: off.
  std::uint32_t sticky_seconds = 0;
  std::string sticky_cookie;  // the cookie's name when sticky
  // Dense among the snapshot's forwards of several targets: the index of the worker's split
  // state (lb::Balancer::split).
  std::uint32_t split = 0;
  bool operator==(const Forward&) const = default;
};

// Answers with a redirect whose parts are templates: "#{protocol}", "#{host}", "#{port}",
// "#{path}" (without its leading '/') and "#{query}" stand for the request's own.
struct Redirect {
  std::string protocol = "#{protocol}";  // "http", "https" or "#{protocol}"
  std::string host = "#{host}";
  std::string port = "#{port}";
  std::string path = "/#{path}";
  std::string query = "#{query}";  // without '?'
  unsigned status = 301;
  bool operator==(const Redirect&) const = default;
};

// Answers with a response of its own.
struct FixedResponse {
  unsigned status = 200;
  std::string content_type = "text/plain";
  std::string body;
  bool operator==(const FixedResponse&) const = default;
};

// An immutable value held by pointer, compared by value: the rare, large actions stay out of
// every route's inline size (a Route is mostly a Forward).
template <class T>
class Boxed {
 public:
  explicit Boxed(T value) : p_(std::make_shared<const T>(std::move(value))) {}
  const T& operator*() const { return *p_; }
  const T* operator->() const { return p_.get(); }
  bool operator==(const Boxed& other) const { return *p_ == *other.p_; }

 private:
  std::shared_ptr<const T> p_;
};

using Action = std::variant<Forward, Boxed<Redirect>, Boxed<FixedResponse>>;

// An address range of a source-ip condition: IPv4 as IPv4-mapped IPv6 (prefix + 96).
struct IpRange {
  std::array<std::uint8_t, 16> address{};
  std::uint8_t prefix = 128;
  bool operator==(const IpRange&) const = default;
  bool contains(const std::array<std::uint8_t, 16>& ip) const;
};

struct QueryPattern {
  std::optional<std::string> key;    // unset: any key
  std::optional<std::string> value;  // unset: any value
  bool operator==(const QueryPattern&) const = default;
};

// One condition of a route (portico.dev/conditions.NAME): it holds when any of its values
// matches. Patterns take '*' (any run) and '?' (one character).
struct Condition {
  enum class Field : std::uint8_t {
    kHttpHeader,   // header `header` (lower-case) has a value matching a pattern (any case)
    kQueryString,  // a key=value pair of the query matches (any case)
    kMethod,       // the method is one of `values` (exactly)
    kSourceIp,     // the client address is in one of `ranges`
    kHostHeader,   // the host (no port) matches a pattern (any case)
    kPathPattern,  // the normalised path matches a pattern (case-sensitive)
  };
  Field field = Field::kHttpHeader;
  std::string header;
  std::vector<std::string> values;
  std::vector<QueryPattern> query;
  std::vector<IpRange> ranges;
  bool operator==(const Condition&) const = default;
};

// '*' matches any run of characters, '?' any one; `fold`: ASCII case is ignored.
bool globMatch(std::string_view pattern, std::string_view text, bool fold);

// What conditions look at in a request. Headers are read through `header_at` so the snapshot
// needs no proxy type: it returns field `i`'s name and value, false past the last one.
struct RequestView {
  std::string_view host;   // as sent (port and case are ignored)
  std::string_view path;   // normalised, without the query
  std::string_view query;  // without '?'
  std::string_view method;
  const std::array<std::uint8_t, 16>* source = nullptr;  // IPv6 or IPv4-mapped; null: unknown
  const void* headers = nullptr;
  bool (*header_at)(const void* headers, std::size_t i, std::string_view& name,
                    std::string_view& value) = nullptr;
};

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
  std::string ingress;                // "namespace/name" of the Ingress that declared it
  std::vector<Condition> conditions;  // all must hold, besides the path
  bool operator==(const Route&) const = default;

  bool matches(std::string_view request_path) const;
  // The path and every condition hold.
  bool matches(const RequestView& request) const;
  // The target group a Forward action sends to first (with weight > 0); kNoTargetGroup for
  // the other actions.
  std::uint32_t firstTargetGroup() const;
};

}  // namespace portico::snapshot
