#include "config/ingress.h"

#include "common/strings.h"
#include "config/annotations/actions.h"
#include "config/annotations/body_size.h"
#include "config/annotations/conditions.h"
#include "config/annotations/table.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <deque>
#include <limits>
#include <map>
#include <tuple>

namespace portico::config {

using model::Ingress;
using model::IngressBackend;
using snapshot::PathMatch;

namespace {

constexpr char kClassAnnotation[] = "kubernetes.io/ingress.class";
constexpr char kDefaultClassAnnotation[] = "ingressclass.kubernetes.io/is-default-class";

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

// portico.dev/group.order: from -1000 to 1000, lower first (the ALB IngressGroup's range).
std::optional<std::int64_t> groupOrder(const Ingress& ing, std::string* error) {
  if (const auto [first, last] = annotations::porticoAnnotations(ing.meta); first == last) {
    return 0;
  }
  auto it = ing.meta.annotations.find(annotations::kGroupOrder);
  if (it == ing.meta.annotations.end()) {
    return 0;
  }
  std::string_view v = trim(it->second);
  const bool negative = !v.empty() && v.front() == '-';
  if (negative) {
    v.remove_prefix(1);
  }
  auto n = parseUint(v);
  if (!n || *n > 1000) {
    if (error != nullptr) {
      *error = "\"" + it->second + "\" must be a whole number from -1000 to 1000";
    }
    return std::nullopt;
  }
  return negative ? -static_cast<std::int64_t>(*n) : static_cast<std::int64_t>(*n);
}

// The identity of a rule's conditions, for duplicate claims: the same conditions however the
// annotation was written (spacing, key case).
std::string conditionsKey(const std::vector<snapshot::Condition>& conditions) {
  std::string key;
  for (const auto& c : conditions) {
    key.push_back(static_cast<char>('0' + static_cast<int>(c.field)));
    key.append(c.header).push_back('\x1f');
    for (const auto& v : c.values) {
      key.append(v).push_back('\x1f');
    }
    for (const auto& q : c.query) {
      key.append(q.key ? "k" + *q.key : "-").push_back('\x1f');
      key.append(q.value ? "v" + *q.value : "-").push_back('\x1f');
    }
    for (const auto& r : c.ranges) {
      key.append(reinterpret_cast<const char*>(r.address.data()), r.address.size());
      key.push_back(static_cast<char>(r.prefix));
    }
    key.push_back('\x1e');
  }
  return key;
}

// What an Ingress's annotations say for all of its rules.
struct IngressSettings {
  std::vector<snapshot::Policy> policies;              // sorted by kind
  std::shared_ptr<const annotations::IngressSsl> ssl;  // shared by its routes, past the processor
  annotations::BackendTlsAnnotations backend_tls;
  // Only when the Ingress sets some (most do not: 300 bytes saved per Ingress).
  std::unique_ptr<const annotations::TargetGroupAnnotations> target_group;
  bool has_conditions = false;  // some portico.dev/conditions.NAME annotation is there
};

class IngressProcessor final {
 public:
  explicit IngressProcessor(Builder& builder)
      : b_(builder), state_(builder.state()), options_(builder.options()) {}

  void run() {
    std::vector<const Ingress*> ours = selectIngresses();
    keys_.reserve(ours.size());
    for (const Ingress* ing : ours) {
      keys_.push_back(&b_.addSource(ing->meta.key()));
    }
    settings_.resize(ours.size());
    for (std::size_t rank = 0; rank < ours.size(); ++rank) {
      if (!parseSettings(*ours[rank], settings_[rank])) {
        continue;  // a bad annotation leaves the Ingress's rules out (DESIGN.md, "The pipeline")
      }
      addIngress(*ours[rank], rank);
      addTls(*ours[rank], *keys_[rank]);
    }
    resolveDefaults(ours);
  }

 private:
  void diag(const std::string& object, std::string field, std::string message,
            Diagnostic::Severity severity = Diagnostic::Severity::kError) {
    b_.diag("Ingress", object, std::move(field), std::move(message), severity);
  }

  // The Ingress's annotations; false when one is wrong (its diagnostic is added).
  bool parseSettings(const Ingress& ing, IngressSettings& out) {
    auto& diagnostics = b_.diagnostics();
    const std::size_t before = diagnostics.size();
    annotations::warnUnknown(ing.meta, "Ingress", diagnostics);
    const std::size_t after_warnings = diagnostics.size();
    if (auto limit = annotations::parseBodySize(ing, diagnostics)) {
      out.policies.emplace_back(*limit);
    }
    if (auto parsed = annotations::parseSsl(ing, options_.tls, diagnostics)) {
      out.ssl = std::make_shared<const annotations::IngressSsl>(std::move(*parsed));
    }
    if (auto backend = annotations::parseBackendTls(ing.meta, "Ingress", diagnostics)) {
      out.backend_tls = *backend;
    }
    if (auto tg = annotations::parseTargetGroup(ing.meta, "Ingress", diagnostics)) {
      if (tg->any()) {
        out.target_group = std::make_unique<const annotations::TargetGroupAnnotations>(*tg);
      }
    }
    std::string order_error;
    if (!groupOrder(ing, &order_error)) {
      diag(ing.meta.key(),
           std::string("metadata.annotations[\"") + annotations::kGroupOrder + "\"]", order_error);
    }
    if (diagnostics.size() != after_warnings) {
      for (std::size_t i = before; i < diagnostics.size(); ++i) {
        if (diagnostics[i].severity == Diagnostic::Severity::kError) {
          diagnostics[i].message += "; the Ingress's rules are left out";
        }
      }
      return false;
    }
    std::sort(out.policies.begin(), out.policies.end(),
              [](const auto& a, const auto& b) { return a.index() < b.index(); });
    const auto conditions = ing.meta.annotations.lower_bound(annotations::kConditionsPrefix);
    out.has_conditions = conditions != ing.meta.annotations.end() &&
                         startsWith(conditions->first, annotations::kConditionsPrefix);
    return true;
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
    std::vector<std::pair<std::int64_t, const Ingress*>> ours;
    for (const auto& [key, ing] : state_.ingresses) {
      if (isOurs(ing, has_default_class)) {
        ours.emplace_back(groupOrder(ing, nullptr).value_or(0), &ing);
      }
    }
    // group.order, then oldest first (no creationTimestamp counts as newest), then
    // namespace/name.
    std::stable_sort(ours.begin(), ours.end(), [](const auto& a, const auto& b) {
      const Ingress* x = a.second;
      const Ingress* y = b.second;
      const auto tx = x->meta.creation_timestamp.value_or(std::numeric_limits<std::int64_t>::max());
      const auto ty = y->meta.creation_timestamp.value_or(std::numeric_limits<std::int64_t>::max());
      return std::tie(a.first, tx, x->meta.namespace_, x->meta.name) <
             std::tie(b.first, ty, y->meta.namespace_, y->meta.name);
    });
    std::vector<const Ingress*> out;
    out.reserve(ours.size());
    for (const auto& [order, ing] : ours) {
      out.push_back(ing);
    }
    return out;
  }

  // Finds the Service port `backend` names, or reports why it cannot.
  // `field` builds the field path, only when there is something to report.
  template <class Field>
  std::optional<BackendRef> findBackend(const Ingress& ing, std::size_t rank,
                                        const std::string& service_name,
                                        const model::ServiceBackendPort& port, const Field& field) {
    const std::string& who = *keys_[rank];
    if (port.number.has_value() == !port.name.empty()) {
      diag(who, field() + ".port", "set exactly one of number and name");
      return std::nullopt;
    }
    key_buf_.assign(ing.meta.namespace_).append("/").append(service_name);
    auto svc_it = state_.services.find(key_buf_);
    if (svc_it == state_.services.end()) {
      diag(who, field() + ".name",
           "Service " + ing.meta.namespace_ + "/" + service_name + " not found");
      return std::nullopt;
    }
    const model::Service& svc = svc_it->second;
    if (svc.type == "ExternalName" && svc.external_name.empty()) {
      diag(who, field() + ".name",
           "Service " + svc.meta.key() + " is of type ExternalName without spec.externalName");
      return std::nullopt;
    }
    for (const auto& sp : svc.ports) {
      if ((port.number && sp.port == *port.number) ||
          (!port.name.empty() && sp.name == port.name)) {
        if (!b_.serviceAnnotationsOk(svc)) {
          diag(who, field() + ".name",
               "Service " + svc.meta.key() +
                   " has an annotation with a bad value (see its "
                   "diagnostic); the backend is left out");
          return std::nullopt;
        }
        const IngressSettings& s = settings_[rank];
        return BackendRef{&svc, &sp, &ing.meta, "Ingress", &s.backend_tls, s.target_group.get()};
      }
    }
    if (svc.type == "ExternalName" && port.number && svc.ports.empty()) {
      // An ExternalName Service often lists no ports: the backend's number is the port on the
      // external name, as ingress-nginx takes it.
      model::ServicePort& sp = external_ports_.emplace_back();
      sp.name = "";
      sp.port = *port.number;
      sp.target_port.number = *port.number;
      const IngressSettings& s = settings_[rank];
      return BackendRef{&svc, &sp, &ing.meta, "Ingress", &s.backend_tls, s.target_group.get()};
    }
    diag(who, field() + ".port",
         "Service " + svc.meta.key() + " has no port " +
             (port.number ? std::to_string(*port.number) : "named " + port.name));
    return std::nullopt;
  }

  template <class Field>
  std::optional<BackendRef> findServiceBackend(const Ingress& ing, std::size_t rank,
                                               const IngressBackend& backend, const Field& field) {
    if (backend.resource) {
      diag(*keys_[rank], field() + ".resource",
           "resource backends are not supported; use a service backend");
      return std::nullopt;
    }
    if (!backend.service) {
      diag(*keys_[rank], field(), "a backend needs a service");
      return std::nullopt;
    }
    return findBackend(ing, rank, backend.service->name, backend.service->port,
                       [&] { return field() + ".service"; });
  }

  void addIngress(const Ingress& ing, std::size_t rank) {
    const std::string& who = *keys_[rank];
    for (std::size_t r = 0; r < ing.rules.size(); ++r) {
      const auto& rule = ing.rules[r];
      const std::string host = toLower(rule.host);
      if (!host.empty()) {
        if (auto err = checkHost(host)) {
          diag(who, "spec.rules[" + std::to_string(r) + "].host", "\"" + rule.host + "\" " + *err);
          continue;
        }
      }
      HostBuild& build = b_.host(host);  // a named host exists even when no path is valid
      if (!host.empty() && (build.namers.empty() || build.namers.back() != rank)) {
        build.namers.push_back(rank);
      }
      for (std::size_t p = 0; p < rule.paths.size(); ++p) {
        addPath(ing, rank, host, build, r, p);
      }
    }
    warnUnusedNames(ing, who);
  }

  // A conditions.NAME or actions.NAME that no backend of the Ingress names has no effect: most
  // likely a typo in NAME or in the backend, so it is said.
  void warnUnusedNames(const Ingress& ing, const std::string& who) {
    const auto [first, last] = annotations::porticoAnnotations(ing.meta);
    const auto named = [&](std::string_view name) {
      for (const auto& rule : ing.rules) {
        for (const auto& hp : rule.paths) {
          if (hp.backend.service && hp.backend.service->name == name) {
            return true;
          }
        }
      }
      return ing.default_backend && ing.default_backend->service &&
             ing.default_backend->service->name == name;
    };
    for (auto it = first; it != last; ++it) {
      for (std::string_view prefix : {std::string_view(annotations::kConditionsPrefix),
                                      std::string_view(annotations::kActionsPrefix)}) {
        if (startsWith(it->first, prefix) && it->first.size() > prefix.size() &&
            !named(std::string_view(it->first).substr(prefix.size()))) {
          diag(who, "metadata.annotations[\"" + it->first + "\"]",
               "no backend of the Ingress is named \"" + it->first.substr(prefix.size()) +
                   "\": the annotation has no effect",
               Diagnostic::Severity::kWarning);
        }
      }
    }
  }

  // The action of a backend: forward to its Service port, or what portico.dev/actions.NAME
  // says when the port is "use-annotation". nullopt: reported, the rule is left out.
  // `field` builds the backend's field path, only when there is something to report.
  template <class Field>
  std::optional<snapshot::Action> actionFor(const Ingress& ing, std::size_t rank,
                                            const IngressBackend& backend, const Field& field) {
    if (backend.service && backend.service->port.name == annotations::kUseAnnotation) {
      auto parsed = annotations::parseAction(ing, backend.service->name,
                                             field() + ".service.port.name", b_.diagnostics());
      if (!parsed) {
        return std::nullopt;
      }
      if (auto* fixed = std::get_if<snapshot::FixedResponse>(&*parsed)) {
        return snapshot::Action(snapshot::Boxed<snapshot::FixedResponse>(std::move(*fixed)));
      }
      if (auto* redirect = std::get_if<snapshot::Redirect>(&*parsed)) {
        return snapshot::Action(snapshot::Boxed<snapshot::Redirect>(std::move(*redirect)));
      }
      const auto& forward = std::get<annotations::ForwardAction>(*parsed);
      snapshot::Forward out;
      out.sticky_seconds = forward.sticky_seconds;
      out.sticky_cookie = forward.sticky_cookie;
      const std::string annotation = annotations::kActionsPrefix + backend.service->name;
      for (std::size_t t = 0; t < forward.targets.size(); ++t) {
        const auto& target = forward.targets[t];
        auto ref = findBackend(ing, rank, target.service, target.port, [&] {
          return "metadata.annotations[\"" + annotation + "\"].forwardConfig.targetGroups[" +
                 std::to_string(t) + "]";
        });
        if (!ref) {
          return std::nullopt;  // a forward that names a missing Service routes nowhere
        }
        out.targets.push_back(snapshot::WeightedTarget{b_.targetGroupFor(*ref), target.weight});
      }
      return snapshot::Action(std::move(out));
    }
    auto ref = findServiceBackend(ing, rank, backend, field);
    if (!ref) {
      return std::nullopt;
    }
    return snapshot::Action(snapshot::Forward{{snapshot::WeightedTarget{b_.targetGroupFor(*ref)}}});
  }

  void addPath(const Ingress& ing, std::size_t rank, const std::string& host, HostBuild& build,
               std::size_t r, std::size_t p) {
    const std::string& who = *keys_[rank];
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
      diag(who, field() + ".pathType",
           hp.path_type.empty()
               ? std::string("required: one of Exact, Prefix, ImplementationSpecific")
               : "\"" + hp.path_type + "\" is not one of Exact, Prefix, ImplementationSpecific");
      return;
    }
    if (auto err = checkPath(path)) {
      diag(who, field() + ".path", "\"" + hp.path + "\" " + *err);
      return;
    }
    if (match == PathMatch::kPrefix) {
      while (!path.empty() && path.back() == '/') {
        path.pop_back();  // the trailing '/' of a Prefix rule is ignored
      }
    }
    // Conditions: portico.dev/conditions.NAME for the backend's service (or action) name.
    std::vector<snapshot::Condition> conditions;
    std::string conditions_key;
    if (hp.backend.service && settings_[rank].has_conditions) {
      auto parsed = annotations::parseConditions(ing, hp.backend.service->name, b_.diagnostics());
      if (!parsed) {
        return;  // reported; this rule is left out, the others keep routing
      }
      conditions = std::move(*parsed);
      conditions_key = conditionsKey(conditions);
    }
    // The claim is checked before the backend is resolved, so a losing duplicate makes no
    // target group; a rule whose backend does not resolve claims nothing.
    if (const std::string* holder = b_.claim(host, match, path, conditions_key, who)) {
      diag(who, field(),
           "duplicate of a rule of Ingress " + *holder + " (host \"" + host + "\", " +
               (match == PathMatch::kExact ? "Exact" : "Prefix") + " \"" + hp.path + "\"" +
               (conditions_key.empty() ? "" : ", the same conditions") +
               "), which takes precedence",
           Diagnostic::Severity::kWarning);
      return;
    }
    auto action = actionFor(ing, rank, hp.backend, [&] { return field() + ".backend"; });
    if (!action) {
      return;
    }
    PendingRoute route;
    route.match = match;
    route.path = std::move(path);
    route.conditions = std::move(conditions);
    route.action = std::move(*action);
    route.source = &who;
    route.rank = rank;
    route.rule = r;
    route.path_index = p;
    route.policies = settings_[rank].policies;
    route.ssl = settings_[rank].ssl;
    build.routes.push_back(std::move(route));
  }

  // spec.tls, in precedence order: each host gets the Secret of the first entry naming it. The
  // controller checked every Secret (options_.secret_checks); one that is missing or bad leaves
  // its hosts on the default certificate, with a diagnostic naming the Secret and why. The
  // secretName is looked up in the Ingress's own namespace only.
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
          diag(who, field + ".secretName",
               "Secret " + secret +
                   " not found (or not of type kubernetes.io/tls); its hosts get the default "
                   "certificate");
          secret.clear();
        } else if (checked == options_.secret_checks.end() || !checked->second.ok) {
          asked = secret;
          diag(who, field + ".secretName",
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
            diag(who, host_field, "\"" + host + "\" " + *err);
          }
          continue;  // a bad rule host is reported by the rules already
        }
        if (check != nullptr &&
            std::none_of(check->names.begin(), check->names.end(),
                         [&](const std::string& n) { return dnsNameCovers(n, host); })) {
          diag(who, host_field,
               "the certificate of Secret " + secret + " does not name \"" + host +
                   "\"; clients will not trust it for this host",
               Diagnostic::Severity::kWarning);
        }
        if (const std::string* holder = b_.claimTls(host, secret, asked, who)) {
          diag(who, host_field,
               "host \"" + host + "\" already has TLS from Ingress " + *holder +
                   ", which takes precedence",
               Diagnostic::Severity::kWarning);
        }
      }
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
      b_.diag("Controller", "--default-backend-service", "",
              "\"" + ref + "\" is not NAMESPACE/NAME");
    } else if (svc == state_.services.end()) {
      b_.diag("Controller", "--default-backend-service", "", "Service " + ref + " not found");
    } else if (svc->second.ports.empty()) {
      b_.diag("Controller", "--default-backend-service", "", "Service " + ref + " has no ports");
    } else {
      controller_default_ = BackendRef{&svc->second, &svc->second.ports.front()};
    }
    return controller_default_;
  }

  // The first (in precedence order) of the ranks `ranks` whose defaultBackend resolves.
  std::optional<BackendRef> firstDefault(const std::vector<std::size_t>& ranks) {
    for (std::size_t rank : ranks) {
      if (rank < default_of_.size() && default_of_[rank]) {
        return default_of_[rank];
      }
    }
    return std::nullopt;
  }

  void resolveDefaults(const std::vector<const Ingress*>& ours) {
    // Resolve every defaultBackend once, so each bad one is reported even when another wins.
    default_of_.resize(ours.size());
    std::vector<std::size_t> all(ours.size());
    for (std::size_t i = 0; i < ours.size(); ++i) {
      all[i] = i;
      if (ours[i]->default_backend) {
        default_of_[i] = findServiceBackend(*ours[i], i, *ours[i]->default_backend,
                                            [] { return std::string("spec.defaultBackend"); });
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
      return b_.targetGroupFor(*ref);
    };
    for (auto& [host, build] : b_.hosts()) {
      build.default_target_group = winner(firstDefault(build.namers));
    }
    b_.anyHost().default_target_group = winner(firstDefault(all));
  }

  Builder& b_;
  const model::ClusterState& state_;
  const Options& options_;
  std::vector<const std::string*> keys_;               // "namespace/name" of each of ours, by rank
  std::vector<IngressSettings> settings_;              // [rank]
  std::vector<std::optional<BackendRef>> default_of_;  // [rank]
  std::optional<BackendRef> controller_default_;
  bool controller_default_resolved_ = false;
  std::string key_buf_;
  std::deque<model::ServicePort> external_ports_;  // ports of port-less ExternalName Services
};

}  // namespace

void processIngresses(Builder& builder) { IngressProcessor(builder).run(); }

}  // namespace portico::config
