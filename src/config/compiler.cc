#include "config/compiler.h"

#include "common/strings.h"
#include "config/annotations/body_size.h"

#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <tuple>

namespace portico::config {

using model::ClusterState;
using model::Ingress;
using model::IngressBackend;
using snapshot::PathMatch;

std::string Diagnostic::toString() const {
  std::string s = (severity == Severity::kError ? "error: " : "warning: ") + kind + " " + object;
  if (!field.empty()) {
    s += ": " + field;
  }
  return s + ": " + message;
}

namespace {

constexpr char kClassAnnotation[] = "kubernetes.io/ingress.class";
constexpr char kDefaultClassAnnotation[] = "ingressclass.kubernetes.io/is-default-class";
constexpr char kServiceNameLabel[] = "kubernetes.io/service-name";

// Where a host or path came from, for precedence and for diagnostics.
struct PendingRoute {
  std::string host;
  PathMatch match;
  std::string path;
  std::string target_group;
  std::string ingress;
  std::size_t age_rank;
  std::size_t rule;
  std::size_t path_index;
  std::vector<snapshot::Policy> policies;
};

// A Service port a backend names, found and checked but not yet made into a target group: only
// backends whose rule wins become target groups (no orphans to pool and health-check).
struct BackendRef {
  const model::Service* service;
  const model::ServicePort* port;
};

struct HostBuild {
  std::vector<PendingRoute> routes;
  std::optional<std::string> default_target_group;
};

std::string pathField(std::size_t rule, std::size_t path) {
  return "spec.rules[" + std::to_string(rule) + "].http.paths[" + std::to_string(path) + "]";
}

// DNS-1123 subdomain, optionally with a leading "*." (Ingress host validation).
std::optional<std::string> checkHost(const std::string& host) {
  std::string_view h = host;
  if (startsWith(h, "*.")) {
    h.remove_prefix(2);
  }
  if (h.empty() || h.size() > 253) {
    return "must be a DNS name of 1 to 253 characters, optionally starting with \"*.\"";
  }
  for (auto label : split(h, '.')) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return "must be a DNS name: each dot-separated label 1-63 characters of [a-z0-9-], "
             "not starting or ending with '-'";
    }
    for (char c : label) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
      if (!ok) {
        if (c == '*') {
          return "a wildcard is allowed only as the whole first label (\"*.example.com\")";
        }
        if (c == ':') {
          return "must not carry a port";
        }
        return std::string("invalid character '") + c + "' (a DNS name is [a-z0-9.-])";
      }
    }
  }
  return std::nullopt;
}

// The Ingress API's rules for Exact and Prefix paths.
std::optional<std::string> checkPath(const std::string& path) {
  if (path.empty() || path.front() != '/') {
    return "must be an absolute path (start with '/')";
  }
  for (const char* bad : {"//", "/./", "/../", "%2f", "%2F"}) {
    if (path.find(bad) != std::string::npos) {
      return std::string("must not contain '") + bad + "'";
    }
  }
  if (endsWith(path, "/..") || endsWith(path, "/.")) {
    return "must not end with '/..' or '/.'";
  }
  for (char c : path) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '?' || c == '#') {
      return "must not contain spaces, control characters, '?' or '#'";
    }
  }
  return std::nullopt;
}

class Compiler final {
 public:
  Compiler(const ClusterState& state, const Options& options) : state_(state), options_(options) {}

  CompileResult run() {
    indexSlices();
    std::vector<const Ingress*> ours = selectIngresses();
    for (std::size_t rank = 0; rank < ours.size(); ++rank) {
      auto policies = ingressPolicies(*ours[rank]);
      if (!policies) {
        continue;  // a bad annotation leaves the Ingress's rules out (DESIGN.md, "The pipeline")
      }
      addIngress(*ours[rank], rank, *policies);
    }
    resolveDefaults(ours);
    return finish(ours);
  }

 private:
  void diag(const std::string& kind, const std::string& object, std::string field,
            std::string message, Diagnostic::Severity severity = Diagnostic::Severity::kError) {
    diagnostics_.push_back(
        Diagnostic{severity, kind, object, std::move(field), std::move(message)});
  }

  // The policies every route of `ing` carries, sorted by kind; nullopt when an annotation is
  // wrong (its diagnostic is added).
  std::optional<std::vector<snapshot::Policy>> ingressPolicies(const Ingress& ing) {
    const std::size_t before = diagnostics_.size();
    std::vector<snapshot::Policy> policies;
    if (auto limit = annotations::parseBodySize(ing, diagnostics_)) {
      policies.emplace_back(*limit);
    }
    if (diagnostics_.size() != before) {
      for (std::size_t i = before; i < diagnostics_.size(); ++i) {
        diagnostics_[i].message += "; the Ingress's rules are left out";
      }
      return std::nullopt;
    }
    std::sort(policies.begin(), policies.end(),
              [](const auto& a, const auto& b) { return a.index() < b.index(); });
    return policies;
  }

  void indexSlices() {
    for (const auto& [key, slice] : state_.endpoint_slices) {
      auto it = slice.meta.labels.find(kServiceNameLabel);
      if (it != slice.meta.labels.end()) {
        slices_by_service_[slice.meta.namespace_ + "/" + it->second].push_back(&slice);
      }
    }
  }

  bool isOurs(const Ingress& ing, bool has_default_class) {
    auto ann = ing.meta.annotations.find(kClassAnnotation);
    if (ann != ing.meta.annotations.end()) {
      return ann->second == options_.ingress_class;
    }
    if (ing.ingress_class_name) {
      auto cls = state_.ingress_classes.find(*ing.ingress_class_name);
      if (cls != state_.ingress_classes.end()) {
        return cls->second.controller == options_.controller_name;
      }
      // Without IngressClass objects (a bare manifest directory), our own class name counts.
      return *ing.ingress_class_name == options_.ingress_class;
    }
    return has_default_class || options_.watch_ingress_without_class;
  }

  std::vector<const Ingress*> selectIngresses() {
    bool has_default_class = false;
    for (const auto& [name, cls] : state_.ingress_classes) {
      auto ann = cls.meta.annotations.find(kDefaultClassAnnotation);
      if (cls.controller == options_.controller_name && ann != cls.meta.annotations.end() &&
          ann->second == "true") {
        has_default_class = true;
      }
    }
    std::vector<const Ingress*> ours;
    for (const auto& [key, ing] : state_.ingresses) {
      if (isOurs(ing, has_default_class)) {
        ours.push_back(&ing);
      }
    }
    // Oldest first; no creationTimestamp counts as newest; ties by namespace/name.
    std::stable_sort(ours.begin(), ours.end(), [](const Ingress* a, const Ingress* b) {
      const auto ta = a->meta.creation_timestamp.value_or(std::numeric_limits<std::int64_t>::max());
      const auto tb = b->meta.creation_timestamp.value_or(std::numeric_limits<std::int64_t>::max());
      return std::tie(ta, a->meta.namespace_, a->meta.name) <
             std::tie(tb, b->meta.namespace_, b->meta.name);
    });
    return ours;
  }

  // The target group of one Service port, built once per compile.
  std::string targetGroupFor(const model::Service& svc, const model::ServicePort& sp) {
    std::string id = svc.meta.key() + ":" + std::to_string(sp.port);
    if (target_groups_.count(id) != 0) {
      return id;
    }
    std::set<snapshot::Endpoint> endpoints;
    auto slices = slices_by_service_.find(svc.meta.key());
    if (slices != slices_by_service_.end()) {
      for (const model::EndpointSlice* slice : slices->second) {
        if (slice->address_type == "FQDN") {
          continue;
        }
        std::optional<std::int32_t> port;
        for (const auto& p : slice->ports) {
          if (p.protocol == "TCP" && p.port && p.name.value_or("") == sp.name) {
            port = p.port;
            break;
          }
        }
        if (slice->ports.empty() && sp.target_port.number) {
          port = sp.target_port.number;
        }
        if (!port || *port <= 0 || *port > 65535) {
          continue;
        }
        for (const auto& e : slice->endpoints) {
          if (e.addresses.empty() || !e.conditions.ready.value_or(true)) {
            continue;
          }
          endpoints.insert(
              snapshot::Endpoint{e.addresses.front(), static_cast<std::uint16_t>(*port)});
        }
      }
    }
    target_groups_[id] = snapshot::TargetGroup{
        id, std::vector<snapshot::Endpoint>(endpoints.begin(), endpoints.end())};
    return id;
  }

  // Finds the Service port an Ingress backend names, or reports why it cannot.
  std::optional<BackendRef> findBackend(const Ingress& ing, const IngressBackend& backend,
                                        const std::string& field) {
    const std::string who = ing.meta.key();
    if (backend.resource) {
      diag("Ingress", who, field + ".resource",
           "resource backends are not supported; use a service backend");
      return std::nullopt;
    }
    if (!backend.service) {
      diag("Ingress", who, field, "a backend needs a service");
      return std::nullopt;
    }
    const auto& ref = *backend.service;
    if (ref.port.number.has_value() == !ref.port.name.empty()) {
      diag("Ingress", who, field + ".service.port", "set exactly one of number and name");
      return std::nullopt;
    }
    auto svc_it = state_.services.find(ing.meta.namespace_ + "/" + ref.name);
    if (svc_it == state_.services.end()) {
      diag("Ingress", who, field + ".service.name",
           "Service " + ing.meta.namespace_ + "/" + ref.name + " not found");
      return std::nullopt;
    }
    const model::Service& svc = svc_it->second;
    if (svc.type == "ExternalName") {
      diag("Ingress", who, field + ".service.name",
           "Service " + svc.meta.key() + " is of type ExternalName, which is not supported yet");
      return std::nullopt;
    }
    for (const auto& sp : svc.ports) {
      if ((ref.port.number && sp.port == *ref.port.number) ||
          (!ref.port.name.empty() && sp.name == ref.port.name)) {
        return BackendRef{&svc, &sp};
      }
    }
    diag("Ingress", who, field + ".service.port",
         "Service " + svc.meta.key() + " has no port " +
             (ref.port.number ? std::to_string(*ref.port.number) : "named " + ref.port.name));
    return std::nullopt;
  }

  void addIngress(const Ingress& ing, std::size_t rank,
                  const std::vector<snapshot::Policy>& policies) {
    const std::string who = ing.meta.key();
    for (std::size_t r = 0; r < ing.rules.size(); ++r) {
      const auto& rule = ing.rules[r];
      const std::string host = toLower(rule.host);
      if (!host.empty()) {
        if (auto err = checkHost(host)) {
          diag("Ingress", who, "spec.rules[" + std::to_string(r) + "].host",
               "\"" + rule.host + "\" " + *err);
          continue;
        }
        hosts_[host];  // a named host exists even when none of its paths is valid
        host_namers_[host].push_back(&ing);
      }
      for (std::size_t p = 0; p < rule.paths.size(); ++p) {
        addPath(ing, rank, host, r, p, policies);
      }
    }
  }

  void addPath(const Ingress& ing, std::size_t rank, const std::string& host, std::size_t r,
               std::size_t p, const std::vector<snapshot::Policy>& policies) {
    const std::string who = ing.meta.key();
    const auto& hp = ing.rules[r].paths[p];
    const std::string field = pathField(r, p);
    PathMatch match = PathMatch::kPrefix;
    std::string path = hp.path;
    if (hp.path_type == "Exact") {
      match = PathMatch::kExact;
    } else if (hp.path_type == "ImplementationSpecific") {
      if (path.empty()) {
        path = "/";
      }
    } else if (hp.path_type != "Prefix") {
      diag("Ingress", who, field + ".pathType",
           hp.path_type.empty()
               ? std::string("required: one of Exact, Prefix, ImplementationSpecific")
               : "\"" + hp.path_type + "\" is not one of Exact, Prefix, ImplementationSpecific");
      return;
    }
    if (auto err = checkPath(path)) {
      diag("Ingress", who, field + ".path", "\"" + hp.path + "\" " + *err);
      return;
    }
    if (match == PathMatch::kPrefix) {
      while (!path.empty() && path.back() == '/') {
        path.pop_back();  // the trailing '/' of a Prefix rule is ignored
      }
    }
    // The claim is checked before the backend is resolved, so a losing duplicate makes no
    // target group; a rule whose backend does not resolve claims nothing.
    const auto key = std::make_tuple(host, match, path);
    if (auto it = claimed_.find(key); it != claimed_.end()) {
      diag("Ingress", who, field,
           "duplicate of a rule of Ingress " + it->second + " (host \"" + host + "\", " +
               (match == PathMatch::kExact ? "Exact" : "Prefix") + " \"" + hp.path +
               "\"), which is older and wins",
           Diagnostic::Severity::kWarning);
      return;
    }
    auto backend = findBackend(ing, hp.backend, field + ".backend");
    if (!backend) {
      return;
    }
    claimed_.emplace(key, who);
    const std::string tg = targetGroupFor(*backend->service, *backend->port);
    PendingRoute route{host, match, path, tg, who, rank, r, p, policies};
    if (host.empty()) {
      any_host_.routes.push_back(std::move(route));
    } else {
      hosts_[host].routes.push_back(std::move(route));
    }
  }

  std::optional<BackendRef> controllerDefault() {
    if (options_.default_backend_service.empty()) {
      return std::nullopt;
    }
    if (controller_default_resolved_) {
      return controller_default_;
    }
    controller_default_resolved_ = true;
    const std::string& ref = options_.default_backend_service;
    auto svc = state_.services.find(ref);
    if (ref.find('/') == std::string::npos) {
      diag("Controller", "--default-backend-service", "", "\"" + ref + "\" is not NAMESPACE/NAME");
    } else if (svc == state_.services.end()) {
      diag("Controller", "--default-backend-service", "", "Service " + ref + " not found");
    } else if (svc->second.ports.empty()) {
      diag("Controller", "--default-backend-service", "", "Service " + ref + " has no ports");
    } else {
      controller_default_ = BackendRef{&svc->second, &svc->second.ports.front()};
    }
    return controller_default_;
  }

  // The first (oldest) of `ingresses` whose defaultBackend resolves.
  std::optional<BackendRef> oldestDefault(const std::vector<const Ingress*>& ingresses) {
    for (const Ingress* ing : ingresses) {
      if (!ing->default_backend) {
        continue;
      }
      auto cached = default_of_.find(ing);
      if (cached != default_of_.end() && cached->second) {
        return cached->second;
      }
    }
    return std::nullopt;
  }

  void resolveDefaults(const std::vector<const Ingress*>& ours) {
    // Resolve every defaultBackend once, so each bad one is reported even when an older one wins.
    for (const Ingress* ing : ours) {
      if (ing->default_backend) {
        default_of_.emplace(ing, findBackend(*ing, *ing->default_backend, "spec.defaultBackend"));
      }
    }
    // Only the winners become target groups.
    auto winner = [&](std::optional<BackendRef> ref) -> std::optional<std::string> {
      if (!ref) {
        ref = controllerDefault();
      }
      if (!ref) {
        return std::nullopt;
      }
      return targetGroupFor(*ref->service, *ref->port);
    };
    for (auto& [host, build] : hosts_) {
      build.default_target_group = winner(oldestDefault(host_namers_[host]));
    }
    any_host_.default_target_group = winner(oldestDefault(ours));
  }

  snapshot::VirtualHost buildHost(const std::string& host, HostBuild& build,
                                  const std::map<std::string, std::uint32_t>& tg_index) {
    std::sort(build.routes.begin(), build.routes.end(),
              [](const PendingRoute& a, const PendingRoute& b) {
                // Longest path first; on equal length Exact before Prefix; then age, then
                // declaration order.
                return std::make_tuple(b.path.size(), a.match, a.age_rank, a.rule, a.path_index) <
                       std::make_tuple(a.path.size(), b.match, b.age_rank, b.rule, b.path_index);
              });
    snapshot::VirtualHost vh;
    vh.host = host;
    for (const auto& r : build.routes) {
      vh.routes.push_back(snapshot::Route{
          r.match, r.path,
          snapshot::Forward{{snapshot::WeightedTarget{tg_index.at(r.target_group)}}}, r.policies,
          r.ingress});
    }
    if (build.default_target_group) {
      vh.default_target_group = tg_index.at(*build.default_target_group);
    }
    return vh;
  }

  CompileResult finish(const std::vector<const Ingress*>& ours) {
    std::vector<snapshot::TargetGroup> tgs;
    std::map<std::string, std::uint32_t> tg_index;
    for (auto& [id, tg] : target_groups_) {
      tg_index[id] = static_cast<std::uint32_t>(tgs.size());
      tgs.push_back(std::move(tg));
    }
    std::vector<snapshot::VirtualHost> hosts;
    for (auto& [host, build] : hosts_) {
      hosts.push_back(buildHost(host, build, tg_index));
    }
    snapshot::VirtualHost any = buildHost("", any_host_, tg_index);
    CompileResult result;
    result.snapshot = snapshot::Snapshot(std::move(tgs), std::move(hosts), std::move(any));
    std::sort(diagnostics_.begin(), diagnostics_.end());
    diagnostics_.erase(std::unique(diagnostics_.begin(), diagnostics_.end()), diagnostics_.end());
    result.diagnostics = std::move(diagnostics_);
    for (const Ingress* ing : ours) {
      result.ingresses.push_back(ing->meta.key());
    }
    std::sort(result.ingresses.begin(), result.ingresses.end());
    return result;
  }

  const ClusterState& state_;
  const Options& options_;
  std::vector<Diagnostic> diagnostics_;
  std::map<std::string, std::vector<const model::EndpointSlice*>> slices_by_service_;
  std::map<std::string, snapshot::TargetGroup> target_groups_;
  std::map<std::string, HostBuild> hosts_;
  std::map<std::string, std::vector<const Ingress*>> host_namers_;  // in age order
  HostBuild any_host_;
  std::map<std::tuple<std::string, PathMatch, std::string>, std::string> claimed_;
  std::map<const Ingress*, std::optional<BackendRef>> default_of_;
  std::optional<BackendRef> controller_default_;
  bool controller_default_resolved_ = false;
};

}  // namespace

CompileResult compile(const ClusterState& state, const Options& options) {
  return Compiler(state, options).run();
}

}  // namespace portico::config
