#include "config/builder.h"

#include "common/strings.h"
#include "config/annotations/table.h"

#include <arpa/inet.h>

#include <algorithm>
#include <tuple>

namespace portico::config {

namespace {
constexpr char kServiceNameLabel[] = "kubernetes.io/service-name";
}  // namespace

std::uint64_t stickyKey(const std::string& target_group_id) { return fnv1a64(target_group_id); }

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
      if (e.addresses.empty()) {
        continue;
      }
      // Ready: takes traffic. Terminating: drains (finishes what it has). Neither: starting.
      const bool ready = e.conditions.ready.value_or(true);
      if (!ready && !e.conditions.terminating.value_or(false)) {
        continue;
      }
      endpoints.push_back(
          snapshot::Endpoint{e.addresses.front(), static_cast<std::uint16_t>(*port), !ready});
    }
  }
  // Sorted with the ready one of an address first, which unique() keeps.
  std::sort(endpoints.begin(), endpoints.end());
  endpoints.erase(std::unique(endpoints.begin(), endpoints.end(),
                              [](const snapshot::Endpoint& a, const snapshot::Endpoint& b) {
                                return a.address == b.address && a.port == b.port;
                              }),
                  endpoints.end());
  return endpoints;
}

std::unordered_map<std::string, std::vector<const model::EndpointSlice*>> indexSlices(
    const model::ClusterState& state) {
  std::unordered_map<std::string, std::vector<const model::EndpointSlice*>> index;
  index.reserve(state.endpoint_slices.size());
  for (const auto& [key, slice] : state.endpoint_slices) {
    auto it = slice.meta.labels.find(kServiceNameLabel);
    if (it != slice.meta.labels.end()) {
      index[slice.meta.namespace_ + "/" + it->second].push_back(&slice);
    }
  }
  return index;
}

Builder::Builder(const model::ClusterState& state, const Options& options)
    : state_(state), options_(options), slices_by_service_(indexSlices(state)) {}

void Builder::diag(const std::string& kind, const std::string& object, std::string field,
                   std::string message, Diagnostic::Severity severity) {
  diagnostics_.push_back(Diagnostic{severity, kind, object, std::move(field), std::move(message)});
}

const Builder::ServiceAnnotations& Builder::serviceAnnotations(const model::Service& svc) {
  auto [it, inserted] = service_annotations_.try_emplace(&svc);
  if (inserted) {
    annotations::warnUnknown(svc.meta, "Service", diagnostics_);
    it->second.tls = annotations::parseBackendTls(svc.meta, "Service", diagnostics_);
    auto settings = annotations::parseTargetGroup(svc.meta, "Service", diagnostics_);
    it->second.settings_ok = settings.has_value();
    if (settings && settings->any()) {
      it->second.settings =
          std::make_unique<const annotations::TargetGroupAnnotations>(std::move(*settings));
    }
  }
  return it->second;
}

bool Builder::serviceAnnotationsOk(const model::Service& svc) {
  const ServiceAnnotations& a = serviceAnnotations(svc);
  return a.tls.has_value() && a.settings_ok;
}

std::uint32_t Builder::targetGroupFor(const BackendRef& ref) {
  const model::Service& svc = *ref.service;
  const model::ServicePort& sp = *ref.port;
  std::optional<snapshot::BackendTls> tls = backendTls(ref);
  const ServiceAnnotations& on_service = serviceAnnotations(svc);
  const annotations::TargetGroupAnnotations* service_settings = on_service.settings.get();
  const annotations::TargetGroupAnnotations* source_settings =
      ref.source_settings != nullptr && ref.source_settings->any() ? ref.source_settings : nullptr;
  const bool cluster_ip = annotations::targetsService(source_settings, service_settings);
  // The common case (plain HTTP to the pods) is found by (Service, port) without building the id.
  std::uint32_t* by_port = nullptr;
  if (!tls && !cluster_ip) {
    auto [known, inserted] = tg_by_port_.try_emplace(std::make_pair(&svc, sp.port),
                                                     static_cast<std::uint32_t>(tgs_.size()));
    if (!inserted) {
      warnOtherSettings(known->second, ref, source_settings, service_settings);
      return known->second;
    }
    by_port = &known->second;
  }
  key_buf_.assign(svc.meta.namespace_).append("/").append(svc.meta.name).append(":");
  key_buf_.append(std::to_string(sp.port));
  if (cluster_ip) {
    key_buf_.append("/service");
  }
  if (tls) {
    key_buf_.append("/https");
    if (!tls->server_name.empty()) {
      key_buf_.append(";sni=").append(tls->server_name);
    }
    if (!tls->ca_secret.empty()) {
      key_buf_.append(";ca=").append(tls->ca_secret);
    }
  }
  if (by_port == nullptr) {
    auto [known, inserted] =
        tg_by_id_.try_emplace(key_buf_, static_cast<std::uint32_t>(tgs_.size()));
    if (!inserted) {
      warnOtherSettings(known->second, ref, source_settings, service_settings);
      return known->second;
    }
  }
  const std::string service_key = svc.meta.key();
  snapshot::TargetGroup tg;
  tg.id = key_buf_;
  if (cluster_ip) {
    // The Service's virtual IP: kube-proxy or the mesh spreads the connections.
    if (!svc.cluster_ip.empty() && svc.cluster_ip != "None") {
      tg.endpoints.push_back(
          snapshot::Endpoint{svc.cluster_ip, static_cast<std::uint16_t>(sp.port)});
    } else {
      diag(ref.source_kind, ref.source != nullptr ? ref.source->key() : svc.meta.key(),
           std::string("metadata.annotations[\"") + annotations::kTargetType + "\"]",
           "Service " + service_key +
               " has no ClusterIP (headless); target-type service "
               "cannot reach it");
    }
  } else if (svc.type == "ExternalName") {
    // The name's addresses, as the resolver last found them; the port the Service points at.
    const std::uint16_t port = static_cast<std::uint16_t>(
        sp.target_port.number && *sp.target_port.number > 0 ? *sp.target_port.number : sp.port);
    in6_addr ignored{};
    if (inet_pton(AF_INET, svc.external_name.c_str(), &ignored) == 1 ||
        inet_pton(AF_INET6, svc.external_name.c_str(), &ignored) == 1) {
      tg.endpoints.push_back(snapshot::Endpoint{svc.external_name, port});
    } else {
      external_names_.insert(svc.external_name);
      if (auto found = options_.resolved.find(svc.external_name);
          found != options_.resolved.end()) {
        for (const auto& address : found->second) {
          tg.endpoints.push_back(snapshot::Endpoint{address, port});
        }
        std::sort(tg.endpoints.begin(), tg.endpoints.end());
      }
    }
  } else if (auto slices = slices_by_service_.find(service_key);
             slices != slices_by_service_.end()) {
    tg.endpoints = endpointsOf(sp, slices->second);
  }
  tg.tls = std::move(tls);
  if (source_settings != nullptr || service_settings != nullptr) {
    tg.settings = annotations::resolveTargetGroup(source_settings, service_settings);
  }
  tgs_.push_back(std::move(tg));
  tg_sources_.push_back(TargetGroupSource{service_key, sp, cluster_ip,
                                          svc.type == "ExternalName" ? svc.external_name : ""});
  tg_settings_source_.push_back(source_settings != nullptr ? ref.source : nullptr);
  return static_cast<std::uint32_t>(tgs_.size() - 1);
}

// One target group, one set of settings: the first source's (in precedence order) and the
// Service's. A later source that asks for others is told.
void Builder::warnOtherSettings(std::uint32_t index, const BackendRef& ref,
                                const annotations::TargetGroupAnnotations* source_settings,
                                const annotations::TargetGroupAnnotations* service_settings) {
  if (source_settings == nullptr || ref.source == nullptr ||
      tg_settings_source_[index] == ref.source ||
      annotations::resolveTargetGroup(source_settings, service_settings) == tgs_[index].settings) {
    return;
  }
  diag(ref.source_kind, ref.source->key(), "metadata.annotations",
       "target group " + tgs_[index].id + " already has settings from " +
           (tg_settings_source_[index] != nullptr ? tg_settings_source_[index]->key()
                                                  : std::string("its Service")) +
           ", which take precedence; annotate the Service to set them for all",
       Diagnostic::Severity::kWarning);
}

// How the proxy speaks to `ref`'s endpoints: nullopt for plain HTTP. The Service's annotations
// win over the source's. A CA Secret that is missing or bad is kept (connections fail: never
// unverified when verification was asked for), with a diagnostic on the object that names it.
std::optional<snapshot::BackendTls> Builder::backendTls(const BackendRef& ref) {
  annotations::BackendTlsAnnotations merged;
  const char* kind = ref.source_kind;
  const model::ObjectMeta* ca_owner = nullptr;
  const bool source_any = ref.source_tls != nullptr && ref.source_tls->any();
  if (source_any) {
    merged = *ref.source_tls;
    ca_owner = ref.source;
  }
  const auto& on_service = serviceAnnotations(*ref.service).tls;
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
                 annotations::kBackendProtocol + ": HTTPS; the backend is spoken to in plain HTTP",
             Diagnostic::Severity::kWarning);
      }
    };
    if (on_service) {
      unused(*on_service, "Service", ref.service->meta);
    }
    if (source_any && ref.source != nullptr) {
      unused(*ref.source_tls, ref.source_kind, *ref.source);
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

HostBuild& Builder::host(const std::string& name) {
  return name.empty() ? any_host_ : hosts_[name];
}

const std::string* Builder::claim(const std::string& host, snapshot::PathMatch match,
                                  const std::string& path, const std::string& conditions_key,
                                  const std::string& source) {
  // host and path hold no control characters (the processors check): '\n' separates them.
  std::string key;
  key.reserve(host.size() + path.size() + conditions_key.size() + 4);
  key.append(host).push_back('\n');
  key.push_back(match == snapshot::PathMatch::kExact ? 'E' : 'P');
  key.append(path);
  if (!conditions_key.empty()) {
    key.push_back('\n');
    key.append(conditions_key);
  }
  auto [it, inserted] = claimed_.try_emplace(std::move(key), &source);
  return inserted ? nullptr : it->second;
}

const std::string* Builder::claimTls(const std::string& host, const std::string& secret,
                                     const std::string& asked, const std::string& source) {
  const auto [it, inserted] = tls_.emplace(host, TlsClaim{secret, asked, &source});
  if (!inserted && it->second.secret.empty() && !secret.empty()) {
    it->second = TlsClaim{secret, asked, &source};  // a good Secret beats a missing or bad one
  } else if (!inserted && it->second.secret != secret && it->second.source != &source) {
    return it->second.source;
  }
  return nullptr;
}

bool Builder::hasTls(const std::string& host) const {
  if (host.empty()) {
    return false;
  }
  if (tls_.count(host) > 0) {
    return true;
  }
  const std::string wildcard = wildcardFor(host);
  return !wildcard.empty() && tls_.count(wildcard) > 0;
}

snapshot::VirtualHost Builder::buildHost(const std::string& host, HostBuild& build,
                                         const std::vector<std::uint32_t>& tg_index,
                                         const std::vector<snapshot::TargetGroup>& tgs) {
  // Sorted by index, then taken in that order: a PendingRoute is large to move around.
  std::vector<std::uint32_t> order(build.routes.size());
  for (std::uint32_t n = 0; n < order.size(); ++n) {
    order[n] = n;
  }
  std::sort(order.begin(), order.end(), [&build](std::uint32_t ia, std::uint32_t ib) {
    const PendingRoute& a = build.routes[ia];
    const PendingRoute& b = build.routes[ib];
    // Longest path first; on equal length Exact before Prefix; on the same path, rules with
    // conditions before the rule without; then the source's rank (group.order, then age), then
    // declaration order.
    const bool a_plain = a.conditions.empty();
    const bool b_plain = b.conditions.empty();
    return std::make_tuple(b.path.size(), a.match, a_plain, a.rank, a.rule, a.path_index) <
           std::make_tuple(a.path.size(), b.match, b_plain, b.rank, b.rule, b.path_index);
  });
  snapshot::VirtualHost vh;
  vh.host = host;
  vh.routes.reserve(build.routes.size());
  const bool tls_host = hasTls(host);
  for (std::uint32_t index : order) {
    PendingRoute& r = build.routes[index];
    // HTTPS policies depend on the host: a route of a host with TLS redirects plain HTTP and
    // carries HSTS, as its source's annotations allow.
    if (r.ssl != nullptr) {
      const bool redirect = r.ssl->force_ssl_redirect || (tls_host && r.ssl->ssl_redirect);
      const bool hsts = tls_host && r.ssl->hsts;
      if (redirect) {
        r.policies.emplace_back(snapshot::SslRedirect{options_.tls.redirect_port, 308});
      }
      if (hsts) {
        r.policies.emplace_back(snapshot::Hsts{r.ssl->hsts_value});
      }
      if (redirect || hsts) {
        std::sort(r.policies.begin(), r.policies.end(),
                  [](const auto& a, const auto& b) { return a.index() < b.index(); });
      }
    }
    if (auto* forward = std::get_if<snapshot::Forward>(&r.action)) {
      if (forward->targets.size() > 1) {
        forward->split = splits_++;
      }
      for (auto& t : forward->targets) {
        t.target_group = tg_index[t.target_group];
        if (forward->sticky_seconds > 0) {
          t.key = stickyKey(tgs[t.target_group].id);
        }
      }
    }
    snapshot::Route route{r.match, std::move(r.path), std::move(r.action), std::move(r.policies),
                          *r.source};
    route.conditions = std::move(r.conditions);
    vh.routes.push_back(std::move(route));
  }
  if (build.default_target_group) {
    vh.default_target_group = tg_index[*build.default_target_group];
  }
  return vh;
}

const std::string& Builder::addSource(std::string key) {
  return sources_.emplace_back(std::move(key));
}

CompileResult Builder::finish() {
  std::vector<std::uint32_t> by_id(tgs_.size());
  for (std::uint32_t i = 0; i < by_id.size(); ++i) {
    by_id[i] = i;
  }
  std::sort(by_id.begin(), by_id.end(),
            [&](std::uint32_t a, std::uint32_t b) { return tgs_[a].id < tgs_[b].id; });
  std::vector<std::uint32_t> tg_index(tgs_.size());
  std::vector<snapshot::TargetGroup> tgs;
  tgs.reserve(tgs_.size());
  std::vector<TargetGroupSource> tg_sources;
  tg_sources.reserve(tgs_.size());
  for (std::uint32_t built : by_id) {
    tg_index[built] = static_cast<std::uint32_t>(tgs.size());
    tgs.push_back(std::move(tgs_[built]));
    tg_sources.push_back(std::move(tg_sources_[built]));
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
    hosts.push_back(buildHost(*host, *build, tg_index, tgs));
  }
  snapshot::VirtualHost any = buildHost("", any_host_, tg_index, tgs);
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
  result.ingresses.assign(sources_.begin(), sources_.end());
  std::sort(result.ingresses.begin(), result.ingresses.end());
  result.target_group_sources = std::move(tg_sources);
  result.external_names.assign(external_names_.begin(), external_names_.end());
  return result;
}

}  // namespace portico::config
