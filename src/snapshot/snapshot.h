#pragma once
// The routing snapshot: an immutable value the compiler builds and the proxy reads.
//
// Contract (DESIGN.md, "Publishing"): a Snapshot is built once, then shared as
// std::shared_ptr<const Snapshot>. Every worker holds its own pointer; a request takes the
// worker's pointer when its headers arrive and keeps it until it ends. Never copy pieces of a
// snapshot (pointers, references, string_views) into long-lived state: hold the shared_ptr.
// Mutable runtime state (endpoint health, pools, balancer cursors) lives outside, keyed by the
// stable identities below (TargetGroup::id, Endpoint::key()).
//
// Pure: no I/O, no clock, safe to read from any number of threads at once.

#include "snapshot/route.h"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace portico::snapshot {

struct Endpoint {
  std::string address;  // IPv4 or IPv6 literal
  std::uint16_t port = 0;
  // Terminating (EndpointSlice conditions): no new requests; in-flight ones finish, and its
  // idle connections close.
  bool draining = false;
  bool operator==(const Endpoint&) const = default;
  auto operator<=>(const Endpoint&) const = default;
};

// TLS from the proxy to a target group's endpoints (portico.dev/backend-protocol: HTTPS).
// The CA itself is not in the snapshot: the runtime state holds one client context per CA
// Secret version and joins it by `ca_secret`.
struct BackendTls {
  std::string server_name;  // sent as SNI (unless an IP literal) and, with a CA, verified
  std::string ca_secret;    // "namespace/name" whose ca.crt verifies the backend; empty: none
  bool operator==(const BackendTls&) const = default;
  auto operator<=>(const BackendTls&) const = default;
};

// Active health checks of a target group's endpoints (portico.dev/healthcheck-*), with the AWS
// Load Balancer Controller's defaults. Off unless an annotation asks for them: EndpointSlice
// readiness is the health signal otherwise, as with ingress-nginx.
struct HealthCheck {
  enum class Protocol : std::uint8_t { kHttp, kHttps, kTcp };
  bool enabled = false;
  Protocol protocol = Protocol::kHttp;
  std::string path = "/";
  std::uint16_t port = 0;  // 0: the endpoint's own (traffic) port
  std::uint32_t interval_seconds = 15;
  std::uint32_t timeout_seconds = 5;
  std::uint32_t healthy_threshold = 2;
  std::uint32_t unhealthy_threshold = 2;
  std::vector<std::pair<std::uint16_t, std::uint16_t>> success_codes{{200, 200}};  // ranges
  bool operator==(const HealthCheck&) const = default;
  bool success(unsigned status) const;
};

enum class Algorithm : std::uint8_t { kRoundRobin, kLeastRequest, kEwma, kRandom, kRingHash };
std::string_view algorithmName(Algorithm algorithm);

// What ring_hash hashes.
struct HashOn {
  enum class Kind : std::uint8_t { kSourceIp, kHeader, kCookie };
  Kind kind = Kind::kSourceIp;
  std::string name;  // header (lower-case) or cookie name
  bool operator==(const HashOn&) const = default;
};

// How a target group balances and judges its endpoints; the runtime state reads these.
struct TargetGroupSettings {
  HealthCheck health;
  Algorithm algorithm = Algorithm::kRoundRobin;
  HashOn hash;
  std::uint32_t slow_start_seconds = 0;  // a new endpoint's share ramps up over this; 0: off
  std::uint32_t deregistration_delay_seconds = 300;  // a draining endpoint's connections close
  // Passive health: consecutive 5xx answers or connect failures that eject an endpoint (0: off),
  // and the first ejection's length (it doubles with each ejection in a row, up to 16 times).
  std::uint32_t ejection_failures = 5;
  std::uint32_t ejection_seconds = 30;
  bool operator==(const TargetGroupSettings&) const = default;
};

// A set of endpoints traffic is balanced over: one Service port, spoken to one way.
struct TargetGroup {
  // Stable identity: "namespace/service:port", with "/https" (and ";sni=NAME", ";ca=SECRET"
  // when set) for a TLS one: the same Service port reached two ways is two target groups.
  std::string id;
  // Ready and terminating endpoints, sorted, one per address and port (ready wins); none
  // ready: 503.
  std::vector<Endpoint> endpoints;
  std::optional<BackendTls> tls;  // set: the endpoints are spoken to over TLS
  TargetGroupSettings settings;
  bool operator==(const TargetGroup&) const = default;
};

struct VirtualHost {
  std::string host;  // lower-case; "*.example.com" for a wildcard; "" for rules without host
  std::vector<Route> routes;  // in precedence order: the first that matches wins
  std::uint32_t default_target_group = kNoTargetGroup;  // when no route matches; none: 404
  bool operator==(const VirtualHost&) const = default;
};

// A name served over TLS and the Secret whose certificate serves it (spec.tls of our Ingresses).
// The certificate itself is not in the snapshot: the runtime state holds one context per
// Secret version and joins it to these by `secret`.
struct TlsHost {
  std::string host;    // lower-case; "*.example.com" for a wildcard
  std::string secret;  // "namespace/name"; empty: the default certificate serves it
  // The kubernetes.io/tls Secret spec.tls names for it, even when it cannot serve (expired,
  // broken): what the certificate expiry metric reports on. Empty when none exists.
  std::string asked;
  bool operator==(const TlsHost&) const = default;
};

struct RouteMatch {
  const VirtualHost* vhost = nullptr;
  const Route* route = nullptr;               // null when the default backend answers
  const TargetGroup* target_group = nullptr;  // null: 404
  std::uint32_t target_group_index = kNoTargetGroup;
};

class Snapshot final {
 public:
  Snapshot();
  // Not copyable (a snapshot is shared by pointer, never copied); movable.
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;
  Snapshot(Snapshot&&) = default;
  Snapshot& operator=(Snapshot&&) = default;
  // `hosts` holds exact and wildcard hosts; `any_host` the rules without a host and the
  // catch-all default backend.
  // `tls` is sorted by host, one entry per host.
  Snapshot(std::vector<TargetGroup> target_groups, std::vector<VirtualHost> hosts,
           VirtualHost any_host, std::vector<TlsHost> tls = {});

  // The same routes (shared, not copied) over `target_groups`, which must be this snapshot's
  // target groups with other endpoints: the same ids in the same order. What an EndpointSlice
  // change needs, as Envoy's endpoints (EDS) change without a new route table.
  Snapshot withEndpoints(std::vector<TargetGroup> target_groups) const;

  // The first route whose path and conditions hold (DESIGN.md, "Routing semantics").
  RouteMatch lookup(const RequestView& request) const;
  // Host as the client sent it (port and case are ignored); path without the query string.
  // Routes with conditions never match: there is nothing else to look at.
  RouteMatch lookup(std::string_view host, std::string_view path) const;

  const std::vector<TargetGroup>& targetGroups() const { return target_groups_; }
  const std::vector<VirtualHost>& hosts() const { return routes_->hosts; }
  const VirtualHost& anyHost() const { return routes_->any_host; }
  const std::vector<TlsHost>& tlsHosts() const { return routes_->tls; }
  // The entry whose host covers `host` (lower-case, no port): exact first, then the wildcard
  // one label up; null when the host is not served over TLS by any Ingress.
  const TlsHost* tlsFor(std::string_view host) const;
  std::size_t routeCount() const;
  // Whether `other` shares this snapshot's routes (withEndpoints).
  bool sharesRoutesWith(const Snapshot& other) const { return routes_ == other.routes_; }

  bool operator==(const Snapshot& other) const {
    return target_groups_ == other.target_groups_ && hosts() == other.hosts() &&
           anyHost() == other.anyHost() && tlsHosts() == other.tlsHosts();
  }

 private:
  // Hosts, routes and their lookup tables: immutable, shared by the snapshots withEndpoints()
  // makes. The tables hold views into `hosts`, which never changes after construction.
  struct RouteTable {
    std::vector<VirtualHost> hosts;
    VirtualHost any_host;
    std::vector<TlsHost> tls;                                      // sorted by host
    std::unordered_map<std::string_view, std::uint32_t> exact;     // host -> index in hosts
    std::unordered_map<std::string_view, std::uint32_t> wildcard;  // "example.com" -> index
  };

  RouteMatch lookupIn(const VirtualHost& vhost, const RequestView& request) const;

  std::vector<TargetGroup> target_groups_;
  std::shared_ptr<const RouteTable> routes_;
};

// Host header value to the form hosts are stored in: port removed, lower-case. IPv6 literals
// keep their brackets. Writes into `buf` (at least 256 bytes) and returns a view of it; an
// empty view when the host is longer than that.
std::string_view normalizeHost(std::string_view host, char* buf, std::size_t buf_size);

// A readable dump for tests, logs and the debug endpoint.
nlohmann::json toJson(const Snapshot& snapshot);

}  // namespace portico::snapshot
