#pragma once
// Internal to the compiler: the builder that source processors feed (as Contour's internal/dag
// Builder is fed by one processor per source kind). It owns what every source shares: target
// groups (one per Service port reached one way, made only for routes that win), virtual hosts
// and their routes, TLS hosts, the claims that settle duplicates, and the diagnostics; finish()
// numbers everything in sorted order, so the output never depends on the order of the work.
//
// A processor (ingress.cc for Ingress v1; Gateway API later) checks its objects, parses their
// annotations (src/config/annotations/) and calls the builder. Pure, as the compiler is.

#include "config/annotations/backend_tls.h"
#include "config/annotations/ssl.h"
#include "config/annotations/target_group.h"
#include "config/compiler.h"

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace portico::config {

// A Service port a backend names, found and checked but not yet made into a target group.
// The settings the route's source gives (its annotations) come with it; the Service's own win.
struct BackendRef {
  const model::Service* service = nullptr;
  const model::ServicePort* port = nullptr;
  const model::ObjectMeta* source = nullptr;  // the object whose backend it is; null: flags'
  const char* source_kind = "Ingress";
  const annotations::BackendTlsAnnotations* source_tls = nullptr;
  const annotations::TargetGroupAnnotations* source_settings = nullptr;
};

// A route before finish(): its action's target groups are builder indexes until then.
struct PendingRoute {
  snapshot::PathMatch match = snapshot::PathMatch::kPrefix;
  std::string path;
  std::vector<snapshot::Condition> conditions;
  snapshot::Action action;
  const std::string* source = nullptr;  // "namespace/name" of the object that declared it
  std::size_t rank = 0;                 // the source's precedence (group.order, then age)
  std::size_t rule = 0;
  std::size_t path_index = 0;
  std::vector<snapshot::Policy> policies;
  // HTTPS settings that become policies once the host's TLS is known (finish()); may be null.
  std::shared_ptr<const annotations::IngressSsl> ssl;
};

struct HostBuild {
  std::vector<PendingRoute> routes;
  std::vector<std::size_t> namers;  // ranks of the sources that name the host, in rank order
  std::optional<std::uint32_t> default_target_group;
};

class Builder final {
 public:
  Builder(const model::ClusterState& state, const Options& options);

  const model::ClusterState& state() const { return state_; }
  const Options& options() const { return options_; }
  std::vector<Diagnostic>& diagnostics() { return diagnostics_; }
  void diag(const std::string& kind, const std::string& object, std::string field,
            std::string message, Diagnostic::Severity severity = Diagnostic::Severity::kError);

  // The Service's own annotations, parsed once per compile; nullopt when one is bad (its
  // diagnostic is added once).
  bool serviceAnnotationsOk(const model::Service& svc);

  // The target group of one Service port reached one way, made once per compile; a builder
  // index for actions and defaults.
  std::uint32_t targetGroupFor(const BackendRef& ref);

  // The host's build ("" for the rules without a host), made on first use.
  HostBuild& host(const std::string& name);
  HostBuild& anyHost() { return any_host_; }
  std::unordered_map<std::string, HostBuild>& hosts() { return hosts_; }

  // Claims (host, match, path, conditions) for `source`: the claimant's key when another holds it.
  const std::string* claim(const std::string& host, snapshot::PathMatch match,
                           const std::string& path, const std::string& conditions_key,
                           const std::string& source);

  // TLS for `host` from Secret `secret` ("" for the default certificate), asked by `source`.
  // Returns the source that holds it with another Secret, or null.
  const std::string* claimTls(const std::string& host, const std::string& secret,
                              const std::string& asked, const std::string& source);
  // Whether `host` (exact, or "*.a.test") is served over TLS: named, or covered by a wildcard.
  bool hasTls(const std::string& host) const;

  // Registers a source object ("namespace/name"); the string lives as long as the builder, so
  // routes and claims may point at it. finish() lists them as CompileResult::ingresses.
  const std::string& addSource(std::string key);

  CompileResult finish();

 private:
  std::optional<snapshot::BackendTls> backendTls(const BackendRef& ref);
  void warnOtherSettings(std::uint32_t index, const BackendRef& ref,
                         const annotations::TargetGroupAnnotations* source_settings,
                         const annotations::TargetGroupAnnotations* service_settings);
  snapshot::VirtualHost buildHost(const std::string& host, HostBuild& build,
                                  const std::vector<std::uint32_t>& tg_index,
                                  const std::vector<snapshot::TargetGroup>& tgs);

  struct ServiceAnnotations {
    std::optional<annotations::BackendTlsAnnotations> tls;
    bool settings_ok = true;
    // Only when the Service sets some (most do not: 300 bytes saved per Service).
    std::unique_ptr<const annotations::TargetGroupAnnotations> settings;
  };
  const ServiceAnnotations& serviceAnnotations(const model::Service& svc);

  const model::ClusterState& state_;
  const Options& options_;
  std::vector<Diagnostic> diagnostics_;
  std::unordered_map<std::string, std::vector<const model::EndpointSlice*>> slices_by_service_;
  std::unordered_map<std::string, std::uint32_t> tg_by_id_;  // the others, by id
  // Plain target groups of pods, by (Service, port number): no id string built to find one.
  struct PortHash {
    std::size_t operator()(const std::pair<const model::Service*, std::int32_t>& k) const {
      return std::hash<const void*>{}(k.first) * 31 + static_cast<std::size_t>(k.second);
    }
  };
  std::unordered_map<std::pair<const model::Service*, std::int32_t>, std::uint32_t, PortHash>
      tg_by_port_;
  // The settings each target group was made with, and by whom: a later source that asks for
  // others gets a warning (one target group, one set of settings).
  std::vector<const model::ObjectMeta*> tg_settings_source_;
  std::unordered_map<const model::Service*, ServiceAnnotations> service_annotations_;
  std::vector<snapshot::TargetGroup> tgs_;     // in build order
  std::vector<TargetGroupSource> tg_sources_;  // [index in tgs_]
  std::unordered_map<std::string, HostBuild> hosts_;
  HostBuild any_host_;
  std::unordered_map<std::string, const std::string*> claimed_;
  struct TlsClaim {
    std::string secret;
    std::string asked;
    const std::string* source;
  };
  std::map<std::string, TlsClaim> tls_;
  std::deque<std::string> sources_;
  std::set<std::string> external_names_;
  std::string key_buf_;
  std::uint32_t splits_ = 0;  // forwards of several targets numbered so far (finish())
};

// The ready endpoints of one Service port, from the Service's slices: sorted, de-duplicated.
std::vector<snapshot::Endpoint> endpointsOf(const model::ServicePort& sp,
                                            const std::vector<const model::EndpointSlice*>& slices);

// EndpointSlices by the "namespace/name" of the Service they belong to.
std::unordered_map<std::string, std::vector<const model::EndpointSlice*>> indexSlices(
    const model::ClusterState& state);

// The stable key of a target group id: what a stickiness cookie carries.
std::uint64_t stickyKey(const std::string& target_group_id);

}  // namespace portico::config
