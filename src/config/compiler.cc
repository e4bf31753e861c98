#include "config/compiler.h"

#include "common/strings.h"
#include "config/annotations/backend_tls.h"
#include "config/annotations/body_size.h"
#include "config/annotations/ssl.h"

#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <tuple>
#include <unordered_map>

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
  PathMatch match;
  std::string path;
  std::uint32_t target_group;  // index in Compiler::tgs_ (build order; renumbered by id at the end)
  const std::string* ingress;  // the Ingress's key, in Compiler::keys_
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
  const Ingress* ingress = nullptr;  // whose backend it is (its annotations apply); null: flags'
};

struct HostBuild {
  std::vector<PendingRoute> routes;
  std::vector<const Ingress*> namers;  // the Ingresses that name the host, in age order
  std::optional<std::uint32_t> default_target_group;
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

// The ready endpoints of one Service port, from the Service's slices: sorted, de-duplicated.
std::vector<snapshot::Endpoint> endpointsOf(
    const model::ServicePort& sp, const std::vector<const model::EndpointSlice*>& slices) {
  std::vector<snapshot::Endpoint> endpoints;
  for (const model::EndpointSlice* slice : slices) {
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
      endpoints.push_back(
          snapshot::Endpoint{e.addresses.front(), static_cast<std::uint16_t>(*port)});
    }
  }
  std::sort(endpoints.begin(), endpoints.end());
  endpoints.erase(std::unique(endpoints.begin(), endpoints.end()), endpoints.end());
  return endpoints;
}

// EndpointSlices by the "namespace/name" of the Service they belong to.
using SliceIndex = std::unordered_map<std::string, std::vector<const model::EndpointSlice*>>;

SliceIndex indexSlices(const ClusterState& state) {
  SliceIndex index;
  index.reserve(state.endpoint_slices.size());
  for (const auto& [key, slice] : state.endpoint_slices) {
    auto it = slice.meta.labels.find(kServiceNameLabel);
    if (it != slice.meta.labels.end()) {
      index[slice.meta.namespace_ + "/" + it->second].push_back(&slice);
    }
  }
  return index;
}

class Compiler final {
 public:
  Compiler(const ClusterState& state, const Options& options) : state_(state), options_(options) {}

  CompileResult run() {
    slices_by_service_ = indexSlices(state_);
    std::vector<const Ingress*> ours = selectIngresses();
    keys_.reserve(ours.size());
    for (const Ingress* ing : ours) {
      keys_.push_back(ing->meta.key());
    }
    ssl_by_rank_.resize(ours.size());
    for (std::size_t rank = 0; rank < ours.size(); ++rank) {
      auto policies = ingressPolicies(*ours[rank], ssl_by_rank_[rank]);
      if (!policies) {
        continue;  // a bad annotation leaves the Ingress's rules out (DESIGN.md, "The pipeline")
      }
      addIngress(*ours[rank], keys_[rank], rank, *policies);
      addTls(*ours[rank], keys_[rank]);
    }
    resolveDefaults(ours);
    return finish();
  }

 private:
  void diag(const std::string& kind, const std::string& object, std::string field,
            std::string message, Diagnostic::Severity severity = Diagnostic::Severity::kError) {
    diagnostics_.push_back(
        Diagnostic{severity, kind, object, std::move(field), std::move(message)});
  }

  // The policies every route of `ing` carries, sorted by kind; nullopt when an annotation is
  // wrong (its diagnostic is added).
  // `ssl` receives the Ingress's HTTPS settings, which become policies per host (buildHost).
  std::optional<std::vector<snapshot::Policy>> ingressPolicies(const Ingress& ing,
                                                               annotations::IngressSsl& ssl) {
    const std::size_t before = diagnostics_.size();
    std::vector<snapshot::Policy> policies;
    if (auto limit = annotations::parseBodySize(ing, diagnostics_)) {
      policies.emplace_back(*limit);
    }
    if (auto parsed = annotations::parseSsl(ing, options_.tls, diagnostics_)) {
      ssl = *parsed;
    }
    if (auto backend = annotations::parseBackendTls(ing.meta, "Ingress", diagnostics_);
        backend && backend->any()) {
      ingress_backend_tls_.emplace(&ing, *backend);
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

  // The target group of one Service port reached one way (plain, or TLS with its settings),
  // built once per compile; its index in tgs_.
  std::uint32_t targetGroupFor(const BackendRef& ref) {
    const model::Service& svc = *ref.service;
    const model::ServicePort& sp = *ref.port;
    std::optional<snapshot::BackendTls> tls = backendTls(ref);
    std::uint32_t* slot = nullptr;
    std::string id;
    if (!tls) {
      auto [known, inserted] = tg_by_port_.try_emplace(std::make_pair(&svc, sp.port),
                                                       static_cast<std::uint32_t>(tgs_.size()));
      if (!inserted) {
        return known->second;  // the common case: no id string built
      }
      slot = &known->second;
      id = svc.meta.key() + ":" + std::to_string(sp.port);
    } else {
      id = svc.meta.key() + ":" + std::to_string(sp.port) + "/https";
      if (!tls->server_name.empty()) {
        id += ";sni=" + tls->server_name;
      }
      if (!tls->ca_secret.empty()) {
        id += ";ca=" + tls->ca_secret;
      }
      auto [known, inserted] = tg_by_id_.try_emplace(id, static_cast<std::uint32_t>(tgs_.size()));
      if (!inserted) {
        return known->second;
      }
      slot = &known->second;
    }
    const std::string service_key = svc.meta.key();
    std::vector<snapshot::Endpoint> endpoints;
    auto slices = slices_by_service_.find(service_key);
    if (slices != slices_by_service_.end()) {
      endpoints = endpointsOf(sp, slices->second);
    }
    tgs_.push_back(snapshot::TargetGroup{std::move(id), std::move(endpoints), std::move(tls)});
    tg_sources_.push_back(TargetGroupSource{service_key, sp});
    return *slot;
  }

  // The Service's backend annotations, parsed once per compile; nullopt when one is bad.
  const std::optional<annotations::BackendTlsAnnotations>& serviceBackendTls(
      const model::Service& svc) {
    auto [it, inserted] = service_backend_tls_.try_emplace(&svc);
    if (inserted) {
      it->second = annotations::parseBackendTls(svc.meta, "Service", diagnostics_);
    }
    return it->second;
  }

  // How the proxy speaks to `ref`'s endpoints: nullopt for plain HTTP. The Service's annotations
  // win over the Ingress's. A CA Secret that is missing or bad is kept (connections fail: never
  // unverified when verification was asked for), with a diagnostic on the object that names it.
  std::optional<snapshot::BackendTls> backendTls(const BackendRef& ref) {
    annotations::BackendTlsAnnotations merged;
    const char* kind = "Ingress";
    const model::ObjectMeta* ca_owner = nullptr;
    if (ref.ingress != nullptr) {
      if (auto it = ingress_backend_tls_.find(ref.ingress); it != ingress_backend_tls_.end()) {
        merged = it->second;
        ca_owner = &ref.ingress->meta;
      }
    }
    const auto& on_service = serviceBackendTls(*ref.service);
    if (on_service && on_service->any()) {
      if (on_service->ca_secret) {
        kind = "Service";
        ca_owner = &ref.service->meta;
      }
      merged = annotations::merge(merged, *on_service);
    }
    if (!merged.https.value_or(false)) {
      // TLS settings on an object that does not ask for HTTPS itself have no effect; on one
      // that does, the other object chose HTTP, and that is not a mistake of this one.
      const auto unused = [&](const annotations::BackendTlsAnnotations& a, const char* kind,
                              const model::ObjectMeta& meta) {
        if ((a.server_name || a.ca_secret) && !a.https.value_or(false)) {
          diag(kind, meta.key(), "metadata.annotations",
               std::string("backend-tls-server-name and backend-tls-ca-secret apply only with ") +
                   annotations::kBackendProtocol +
                   ": HTTPS; the backend is spoken to in plain HTTP",
               Diagnostic::Severity::kWarning);
        }
      };
      if (on_service) {
        unused(*on_service, "Service", ref.service->meta);
      }
      if (auto it = ingress_backend_tls_.find(ref.ingress); it != ingress_backend_tls_.end()) {
        unused(it->second, "Ingress", ref.ingress->meta);
      }
      return std::nullopt;
    }
    snapshot::BackendTls tls;
    tls.server_name = merged.server_name
                          ? *merged.server_name
                          : ref.service->meta.name + "." + ref.service->meta.namespace_ + ".svc";
    if (merged.ca_secret && ca_owner != nullptr) {
      tls.ca_secret = ca_owner->namespace_ + "/" + *merged.ca_secret;
      std::string problem;
      const auto check = options_.secret_checks.find(tls.ca_secret);
      if (state_.secrets.count(tls.ca_secret) == 0) {
        problem = " not found";
      } else if (check == options_.secret_checks.end() || !check->second.has_ca) {
        problem = " has no ca.crt";
      } else if (!check->second.ca_ok) {
        problem = ": " + check->second.ca_reason;  // "ca.crt: ..."
      }
      if (!problem.empty()) {
        diag(kind, ca_owner->key(),
             std::string("metadata.annotations[\"") + annotations::kBackendTlsCaSecret + "\"]",
             "Secret " + tls.ca_secret + problem + "; connections to the backend fail " +
                 "until it is fixed");
      }
    }
    return tls;
  }

  // Finds the Service port an Ingress backend names, or reports why it cannot.
  // `field` builds the field path, only when there is something to report.
  template <class Field>
  std::optional<BackendRef> findBackend(const Ingress& ing, const std::string& who,
                                        const IngressBackend& backend, const Field& field) {
    if (backend.resource) {
      diag("Ingress", who, field() + ".resource",
           "resource backends are not supported; use a service backend");
      return std::nullopt;
    }
    if (!backend.service) {
      diag("Ingress", who, field(), "a backend needs a service");
      return std::nullopt;
    }
    const auto& ref = *backend.service;
    if (ref.port.number.has_value() == !ref.port.name.empty()) {
      diag("Ingress", who, field() + ".service.port", "set exactly one of number and name");
      return std::nullopt;
    }
    key_buf_.assign(ing.meta.namespace_).append("/").append(ref.name);
    auto svc_it = state_.services.find(key_buf_);
    if (svc_it == state_.services.end()) {
      diag("Ingress", who, field() + ".service.name",
           "Service " + ing.meta.namespace_ + "/" + ref.name + " not found");
      return std::nullopt;
    }
    const model::Service& svc = svc_it->second;
    if (svc.type == "ExternalName") {
      diag("Ingress", who, field() + ".service.name",
           "Service " + svc.meta.key() + " is of type ExternalName, which is not supported yet");
      return std::nullopt;
    }
    for (const auto& sp : svc.ports) {
      if ((ref.port.number && sp.port == *ref.port.number) ||
          (!ref.port.name.empty() && sp.name == ref.port.name)) {
        if (!serviceBackendTls(svc)) {
          diag("Ingress", who, field() + ".service.name",
               "Service " + svc.meta.key() +
                   " has an annotation with a bad value (see its "
                   "diagnostic); the backend is left out");
          return std::nullopt;
        }
        return BackendRef{&svc, &sp, &ing};
      }
    }
    diag("Ingress", who, field() + ".service.port",
         "Service " + svc.meta.key() + " has no port " +
             (ref.port.number ? std::to_string(*ref.port.number) : "named " + ref.port.name));
    return std::nullopt;
  }

  void addIngress(const Ingress& ing, const std::string& who, std::size_t rank,
                  const std::vector<snapshot::Policy>& policies) {
    for (std::size_t r = 0; r < ing.rules.size(); ++r) {
      const auto& rule = ing.rules[r];
      const std::string host = toLower(rule.host);
      HostBuild* build = &any_host_;
      if (!host.empty()) {
        if (auto err = checkHost(host)) {
          diag("Ingress", who, "spec.rules[" + std::to_string(r) + "].host",
               "\"" + rule.host + "\" " + *err);
          continue;
        }
        build = &hosts_[host];  // a named host exists even when none of its paths is valid
        if (build->namers.empty() || build->namers.back() != &ing) {
          build->namers.push_back(&ing);
        }
      }
      for (std::size_t p = 0; p < rule.paths.size(); ++p) {
        addPath(ing, who, rank, host, *build, r, p, policies);
      }
    }
  }

  void addPath(const Ingress& ing, const std::string& who, std::size_t rank,
               const std::string& host, HostBuild& build, std::size_t r, std::size_t p,
               const std::vector<snapshot::Policy>& policies) {
    const auto& hp = ing.rules[r].paths[p];
    const auto field = [&] { return pathField(r, p); };
    PathMatch match = PathMatch::kPrefix;
    std::string path = hp.path;
    if (hp.path_type == "Exact") {
      match = PathMatch::kExact;
    } else if (hp.path_type == "ImplementationSpecific") {
      if (path.empty()) {
        path = "/";
      }
    } else if (hp.path_type != "Prefix") {
      diag("Ingress", who, field() + ".pathType",
           hp.path_type.empty()
               ? std::string("required: one of Exact, Prefix, ImplementationSpecific")
               : "\"" + hp.path_type + "\" is not one of Exact, Prefix, ImplementationSpecific");
      return;
    }
    if (auto err = checkPath(path)) {
      diag("Ingress", who, field() + ".path", "\"" + hp.path + "\" " + *err);
      return;
    }
    if (match == PathMatch::kPrefix) {
      while (!path.empty() && path.back() == '/') {
        path.pop_back();  // the trailing '/' of a Prefix rule is ignored
      }
    }
    // The claim is checked before the backend is resolved, so a losing duplicate makes no
    // target group; a rule whose backend does not resolve claims nothing.
    // host and path hold no control characters (checked above): '\n' separates them.
    std::string key;
    key.reserve(host.size() + path.size() + 3);
    key.append(host).push_back('\n');
    key.push_back(match == PathMatch::kExact ? 'E' : 'P');
    key.append(path);
    if (auto it = claimed_.find(key); it != claimed_.end()) {
      diag("Ingress", who, field(),
           "duplicate of a rule of Ingress " + *it->second + " (host \"" + host + "\", " +
               (match == PathMatch::kExact ? "Exact" : "Prefix") + " \"" + hp.path +
               "\"), which is older and wins",
           Diagnostic::Severity::kWarning);
      return;
    }
    auto backend = findBackend(ing, who, hp.backend, [&] { return field() + ".backend"; });
    if (!backend) {
      return;
    }
    claimed_.emplace(std::move(key), &who);
    const std::uint32_t tg = targetGroupFor(*backend);
    build.routes.push_back(PendingRoute{match, std::move(path), tg, &who, rank, r, p, policies});
  }

  // spec.tls, the oldest Ingress first: each host gets the Secret of the first entry naming
  // it. The controller checked every Secret (options_.secret_checks); one that is missing or
  // bad leaves its hosts on the default certificate, with a diagnostic naming the Secret and
  // why. The secretName is looked up in the Ingress's own namespace only.
  void addTls(const Ingress& ing, const std::string& who) {
    for (std::size_t t = 0; t < ing.tls.size(); ++t) {
      const auto& entry = ing.tls[t];
      const std::string field = "spec.tls[" + std::to_string(t) + "]";
      std::string secret;
      std::string asked;  // a kubernetes.io/tls Secret named here, even one that cannot serve
      const SecretCheck* check = nullptr;
      if (!entry.secret_name.empty()) {
        secret = ing.meta.namespace_ + "/" + entry.secret_name;
        const auto checked = options_.secret_checks.find(secret);
        const auto found = state_.secrets.find(secret);
        if (found == state_.secrets.end() || found->second.type != "kubernetes.io/tls") {
          diag("Ingress", who, field + ".secretName",
               "Secret " + secret +
                   " not found (or not of type kubernetes.io/tls); its hosts get the default "
                   "certificate");
          secret.clear();
        } else if (checked == options_.secret_checks.end() || !checked->second.ok) {
          asked = secret;
          diag("Ingress", who, field + ".secretName",
               "Secret " + secret + ": " +
                   (checked == options_.secret_checks.end() ? std::string("not checked")
                                                            : checked->second.reason) +
                   "; its hosts get the default certificate");
          secret.clear();
        } else {
          asked = secret;
          check = &checked->second;
        }
      }
      // No hosts: the entry covers the Ingress's rule hosts (the API's "wildcard host" default).
      std::vector<std::pair<std::string, std::string>> hosts;  // host, field
      if (entry.hosts.empty()) {
        for (std::size_t r = 0; r < ing.rules.size(); ++r) {
          if (!ing.rules[r].host.empty()) {
            hosts.emplace_back(toLower(ing.rules[r].host),
                               "spec.rules[" + std::to_string(r) + "].host");
          }
        }
      } else {
        for (std::size_t h = 0; h < entry.hosts.size(); ++h) {
          hosts.emplace_back(toLower(entry.hosts[h]), field + ".hosts[" + std::to_string(h) + "]");
        }
      }
      for (const auto& [host, host_field] : hosts) {
        if (auto err = checkHost(host)) {
          if (!entry.hosts.empty()) {
            diag("Ingress", who, host_field, "\"" + host + "\" " + *err);
          }
          continue;  // a bad rule host is reported by the rules already
        }
        if (check != nullptr &&
            std::none_of(check->names.begin(), check->names.end(),
                         [&](const std::string& n) { return dnsNameCovers(n, host); })) {
          diag("Ingress", who, host_field,
               "the certificate of Secret " + secret + " does not name \"" + host +
                   "\"; clients will not trust it for this host",
               Diagnostic::Severity::kWarning);
        }
        const auto [it, inserted] = tls_.emplace(host, TlsClaim{secret, asked, &who});
        if (!inserted && it->second.secret.empty() && !secret.empty()) {
          it->second = TlsClaim{secret, asked, &who};  // a good Secret beats a missing or bad one
        } else if (!inserted && it->second.secret != secret && it->second.ingress != &who) {
          diag("Ingress", who, host_field,
               "host \"" + host + "\" already has TLS from Ingress " + *it->second.ingress +
                   ", which is older and wins",
               Diagnostic::Severity::kWarning);
        }
      }
    }
  }

  // Whether `host` (a rule host: exact, or "*.a.test") is served over TLS by some Ingress:
  // named in spec.tls itself, or covered by a TLS wildcard.
  bool hasTls(const std::string& host) const {
    if (host.empty()) {
      return false;
    }
    if (tls_.count(host) > 0) {
      return true;
    }
    const std::string wildcard = wildcardFor(host);
    return !wildcard.empty() && tls_.count(wildcard) > 0;
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
    for (std::size_t i = 0; i < ours.size(); ++i) {
      const Ingress* ing = ours[i];
      if (ing->default_backend) {
        default_of_.emplace(ing, findBackend(*ing, keys_[i], *ing->default_backend,
                                             [] { return std::string("spec.defaultBackend"); }));
      }
    }
    // Only the winners become target groups.
    auto winner = [&](std::optional<BackendRef> ref) -> std::optional<std::uint32_t> {
      if (!ref) {
        ref = controllerDefault();
      }
      if (!ref) {
        return std::nullopt;
      }
      return targetGroupFor(*ref);
    };
    for (auto& [host, build] : hosts_) {
      build.default_target_group = winner(oldestDefault(build.namers));
    }
    any_host_.default_target_group = winner(oldestDefault(ours));
  }

  snapshot::VirtualHost buildHost(const std::string& host, HostBuild& build,
                                  const std::vector<std::uint32_t>& tg_index) {
    std::sort(build.routes.begin(), build.routes.end(),
              [](const PendingRoute& a, const PendingRoute& b) {
                // Longest path first; on equal length Exact before Prefix; then age, then
                // declaration order.
                return std::make_tuple(b.path.size(), a.match, a.age_rank, a.rule, a.path_index) <
                       std::make_tuple(a.path.size(), b.match, b.age_rank, b.rule, b.path_index);
              });
    snapshot::VirtualHost vh;
    vh.host = host;
    vh.routes.reserve(build.routes.size());
    const bool tls_host = hasTls(host);
    for (auto& r : build.routes) {
      // HTTPS policies depend on the host: a route of a host with TLS redirects plain HTTP and
      // carries HSTS, as its Ingress's annotations allow.
      const annotations::IngressSsl& ssl = ssl_by_rank_[r.age_rank];
      const bool redirect = ssl.force_ssl_redirect || (tls_host && ssl.ssl_redirect);
      const bool hsts = tls_host && ssl.hsts;
      if (redirect || hsts) {
        if (redirect) {
          r.policies.emplace_back(snapshot::SslRedirect{options_.tls.redirect_port, 308});
        }
        if (hsts) {
          r.policies.emplace_back(snapshot::Hsts{ssl.hsts_value});
        }
        std::sort(r.policies.begin(), r.policies.end(),
                  [](const auto& a, const auto& b) { return a.index() < b.index(); });
      }
      vh.routes.push_back(
          snapshot::Route{r.match, std::move(r.path),
                          snapshot::Forward{{snapshot::WeightedTarget{tg_index[r.target_group]}}},
                          std::move(r.policies), *r.ingress});
    }
    if (build.default_target_group) {
      vh.default_target_group = tg_index[*build.default_target_group];
    }
    return vh;
  }

  CompileResult finish() {
    // Target groups and hosts are numbered in sorted order, so the output never depends on the
    // order of the work.
    std::vector<std::uint32_t> by_id(tgs_.size());
    for (std::uint32_t i = 0; i < by_id.size(); ++i) {
      by_id[i] = i;
    }
    std::sort(by_id.begin(), by_id.end(),
              [&](std::uint32_t a, std::uint32_t b) { return tgs_[a].id < tgs_[b].id; });
    std::vector<std::uint32_t> tg_index(tgs_.size());
    std::vector<snapshot::TargetGroup> tgs;
    tgs.reserve(tgs_.size());
    std::vector<TargetGroupSource> sources;
    sources.reserve(tgs_.size());
    for (std::uint32_t built : by_id) {
      tg_index[built] = static_cast<std::uint32_t>(tgs.size());
      tgs.push_back(std::move(tgs_[built]));
      sources.push_back(std::move(tg_sources_[built]));
    }
    std::vector<std::pair<const std::string*, HostBuild*>> sorted_hosts;
    sorted_hosts.reserve(hosts_.size());
    for (auto& [host, build] : hosts_) {
      sorted_hosts.emplace_back(&host, &build);
    }
    std::sort(sorted_hosts.begin(), sorted_hosts.end(),
              [](const auto& a, const auto& b) { return *a.first < *b.first; });
    std::vector<snapshot::VirtualHost> hosts;
    hosts.reserve(sorted_hosts.size());
    for (auto& [host, build] : sorted_hosts) {
      hosts.push_back(buildHost(*host, *build, tg_index));
    }
    snapshot::VirtualHost any = buildHost("", any_host_, tg_index);
    std::vector<snapshot::TlsHost> tls;
    tls.reserve(tls_.size());
    for (auto& [host, claim] : tls_) {
      tls.push_back(snapshot::TlsHost{host, claim.secret, claim.asked});
    }
    CompileResult result;
    result.snapshot =
        snapshot::Snapshot(std::move(tgs), std::move(hosts), std::move(any), std::move(tls));
    std::sort(diagnostics_.begin(), diagnostics_.end());
    diagnostics_.erase(std::unique(diagnostics_.begin(), diagnostics_.end()), diagnostics_.end());
    result.diagnostics = std::move(diagnostics_);
    result.ingresses = keys_;
    result.target_group_sources = std::move(sources);
    std::sort(result.ingresses.begin(), result.ingresses.end());
    return result;
  }

  const ClusterState& state_;
  const Options& options_;
  std::vector<Diagnostic> diagnostics_;
  std::vector<std::string> keys_;  // "namespace/name" of each of ours, in age order
  std::string key_buf_;
  SliceIndex slices_by_service_;
  // (Service, port number) -> index in tgs_: the target group's identity, as its id says.
  struct PortHash {
    std::size_t operator()(const std::pair<const model::Service*, std::int32_t>& k) const {
      return std::hash<const void*>{}(k.first) * 31 + static_cast<std::size_t>(k.second);
    }
  };
  std::unordered_map<std::pair<const model::Service*, std::int32_t>, std::uint32_t, PortHash>
      tg_by_port_;
  std::unordered_map<std::string, std::uint32_t> tg_by_id_;  // TLS target groups, by id
  std::unordered_map<const Ingress*, annotations::BackendTlsAnnotations> ingress_backend_tls_;
  std::unordered_map<const model::Service*, std::optional<annotations::BackendTlsAnnotations>>
      service_backend_tls_;
  std::vector<snapshot::TargetGroup> tgs_;     // in build order
  std::vector<TargetGroupSource> tg_sources_;  // [index in tgs_]
  std::unordered_map<std::string, HostBuild> hosts_;
  HostBuild any_host_;
  // host '\n' E|P path -> the key of the Ingress that claimed it first
  std::unordered_map<std::string, const std::string*> claimed_;
  std::map<const Ingress*, std::optional<BackendRef>> default_of_;
  // TLS host -> the Secret serving it ("" for the default certificate) and who named it first.
  struct TlsClaim {
    std::string secret;
    std::string asked;
    const std::string* ingress;
  };
  std::map<std::string, TlsClaim> tls_;
  std::vector<annotations::IngressSsl> ssl_by_rank_;  // [rank]: each Ingress's HTTPS settings
  std::optional<BackendRef> controller_default_;
  bool controller_default_resolved_ = false;
};

}  // namespace

CompileResult compile(const ClusterState& state, const Options& options) {
  return Compiler(state, options).run();
}

std::vector<std::string> caSecretsNamed(const ClusterState& state) {
  std::vector<std::string> out;
  const auto add = [&out](const model::ObjectMeta& meta) {
    if (auto it = meta.annotations.find(annotations::kBackendTlsCaSecret);
        it != meta.annotations.end()) {
      out.push_back(meta.namespace_ + "/" + std::string(trim(it->second)));
    }
  };
  for (const auto& [key, ing] : state.ingresses) {
    add(ing.meta);
  }
  for (const auto& [key, svc] : state.services) {
    add(svc.meta);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

snapshot::Snapshot recompileEndpoints(const snapshot::Snapshot& previous,
                                      const std::vector<TargetGroupSource>& sources,
                                      const ClusterState& state) {
  const SliceIndex slices = indexSlices(state);
  std::vector<snapshot::TargetGroup> tgs;
  tgs.reserve(previous.targetGroups().size());
  for (std::size_t i = 0; i < previous.targetGroups().size(); ++i) {
    const TargetGroupSource& source = sources.at(i);
    auto it = slices.find(source.service);
    snapshot::TargetGroup tg;
    tg.id = previous.targetGroups()[i].id;
    tg.tls = previous.targetGroups()[i].tls;
    if (it != slices.end()) {
      tg.endpoints = endpointsOf(source.port, it->second);
    }
    tgs.push_back(std::move(tg));
  }
  return previous.withEndpoints(std::move(tgs));
}

bool onlyEndpointsDiffer(const ClusterState& a, const ClusterState& b) {
  return a.ingresses == b.ingresses && a.ingress_classes == b.ingress_classes &&
         a.services == b.services && a.secrets == b.secrets && a.config_maps == b.config_maps;
}

}  // namespace portico::config
