#include "snapshot/snapshot.h"

#include "common/strings.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace portico::snapshot {

std::string_view policyName(const Policy& policy) {
  struct Name {
    std::string_view operator()(const SslRedirect&) const { return "sslRedirect"; }
    std::string_view operator()(const BodyLimit&) const { return "bodyLimit"; }
    std::string_view operator()(const Hsts&) const { return "hsts"; }
  };
  return std::visit(Name{}, policy);
}

std::uint32_t Route::firstTargetGroup() const {
  const auto& forward = std::get<Forward>(action);
  return forward.targets.empty() ? kNoTargetGroup : forward.targets.front().target_group;
}

bool Route::matches(std::string_view request_path) const {
  if (match == PathMatch::kExact) {
    return request_path == path;
  }
  // Element-wise prefix: "/foo" matches "/foo", "/foo/" and "/foo/bar", never "/foobar".
  if (request_path.size() < path.size() || request_path.compare(0, path.size(), path) != 0) {
    return false;
  }
  return request_path.size() == path.size() || request_path[path.size()] == '/';
}

Snapshot::Snapshot() : routes_(std::make_shared<const RouteTable>()) {}

Snapshot::Snapshot(std::vector<TargetGroup> target_groups, std::vector<VirtualHost> hosts,
                   VirtualHost any_host, std::vector<TlsHost> tls)
    : target_groups_(std::move(target_groups)) {
  auto table = std::make_shared<RouteTable>();
  table->tls = std::move(tls);
  table->hosts = std::move(hosts);
  table->any_host = std::move(any_host);
  table->exact.reserve(table->hosts.size());
  // Views point into table->hosts, which never changes after construction.
  for (std::uint32_t i = 0; i < table->hosts.size(); ++i) {
    const std::string& h = table->hosts[i].host;
    if (h.size() > 2 && h[0] == '*' && h[1] == '.') {
      table->wildcard.emplace(std::string_view(h).substr(2), i);
    } else {
      table->exact.emplace(std::string_view(h), i);
    }
  }
  routes_ = std::move(table);
}

const TlsHost* Snapshot::tlsFor(std::string_view host) const {
  const auto& tls = routes_->tls;
  const auto find = [&](std::string_view name) -> const TlsHost* {
    const auto it =
        std::lower_bound(tls.begin(), tls.end(), name,
                         [](const TlsHost& t, std::string_view n) { return t.host < n; });
    return it != tls.end() && it->host == name ? &*it : nullptr;
  };
  if (const TlsHost* exact = find(host)) {
    return exact;
  }
  const std::string wildcard = wildcardFor(host);
  return wildcard.empty() ? nullptr : find(wildcard);
}

Snapshot Snapshot::withEndpoints(std::vector<TargetGroup> target_groups) const {
  Snapshot next;
  next.target_groups_ = std::move(target_groups);
  next.routes_ = routes_;
  return next;
}

std::size_t Snapshot::routeCount() const {
  std::size_t n = anyHost().routes.size();
  for (const auto& h : hosts()) {
    n += h.routes.size();
  }
  return n;
}

RouteMatch Snapshot::lookupIn(const VirtualHost& vhost, std::string_view path) const {
  RouteMatch m;
  m.vhost = &vhost;
  for (const Route& r : vhost.routes) {
    if (r.matches(path)) {
      m.route = &r;
      m.target_group_index = r.firstTargetGroup();
      if (m.target_group_index != kNoTargetGroup) {
        m.target_group = &target_groups_[m.target_group_index];
      }
      return m;
    }
  }
  if (vhost.default_target_group != kNoTargetGroup) {
    m.target_group = &target_groups_[vhost.default_target_group];
    m.target_group_index = vhost.default_target_group;
  }
  return m;
}

RouteMatch Snapshot::lookup(std::string_view host, std::string_view path) const {
  char buf[256];
  const std::string_view h = normalizeHost(host, buf, sizeof(buf));
  if (!h.empty()) {
    const RouteTable& table = *routes_;
    if (auto it = table.exact.find(h); it != table.exact.end()) {
      return lookupIn(table.hosts[it->second], path);
    }
    // A wildcard covers exactly one more label: strip the first one and look again.
    const std::size_t dot = h.find('.');
    if (dot != std::string_view::npos && dot > 0) {
      if (auto it = table.wildcard.find(h.substr(dot + 1)); it != table.wildcard.end()) {
        return lookupIn(table.hosts[it->second], path);
      }
    }
  }
  return lookupIn(routes_->any_host, path);
}

std::string_view normalizeHost(std::string_view host, char* buf, std::size_t buf_size) {
  if (!host.empty() && host.front() == '[') {
    const std::size_t close = host.find(']');
    if (close != std::string_view::npos) {
      host = host.substr(0, close + 1);
    }
  } else if (const std::size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (!host.empty() && host.back() == '.') {
    host.remove_suffix(1);  // "example.com." names the same host
  }
  if (host.size() > buf_size) {
    return {};
  }
  for (std::size_t i = 0; i < host.size(); ++i) {
    const char c = host[i];
    buf[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return {buf, host.size()};
}

namespace {
nlohmann::json vhostJson(const Snapshot& s, const VirtualHost& v) {
  nlohmann::json routes = nlohmann::json::array();
  for (const auto& r : v.routes) {
    nlohmann::json route = {{"match", r.match == PathMatch::kExact ? "Exact" : "Prefix"},
                            {"path", r.path},
                            {"targetGroup", s.targetGroups()[r.firstTargetGroup()].id},
                            {"ingress", r.ingress}};
    for (const auto& p : r.policies) {
      nlohmann::json& out = route["policies"][std::string(policyName(p))];
      if (const auto* limit = std::get_if<BodyLimit>(&p)) {
        out = {{"maxBytes", limit->max_bytes}};
      } else if (const auto* redirect = std::get_if<SslRedirect>(&p)) {
        out = {{"port", redirect->port}, {"status", redirect->status}};
      } else if (const auto* hsts = std::get_if<Hsts>(&p)) {
        out = {{"value", hsts->value}};
      }
    }
    routes.push_back(std::move(route));
  }
  nlohmann::json out = {{"host", v.host}, {"routes", routes}};
  if (v.default_target_group != kNoTargetGroup) {
    out["defaultTargetGroup"] = s.targetGroups()[v.default_target_group].id;
  }
  return out;
}
}  // namespace

nlohmann::json toJson(const Snapshot& s) {
  nlohmann::json tgs = nlohmann::json::array();
  for (const auto& tg : s.targetGroups()) {
    nlohmann::json eps = nlohmann::json::array();
    for (const auto& e : tg.endpoints) {
      eps.push_back(e.address + ":" + std::to_string(e.port));
    }
    nlohmann::json j = {{"id", tg.id}, {"endpoints", eps}};
    if (tg.tls) {
      j["tls"] = {{"serverName", tg.tls->server_name}, {"caSecret", tg.tls->ca_secret}};
    }
    tgs.push_back(std::move(j));
  }
  nlohmann::json hosts = nlohmann::json::array();
  for (const auto& h : s.hosts()) {
    hosts.push_back(vhostJson(s, h));
  }
  nlohmann::json out = {
      {"targetGroups", tgs}, {"hosts", hosts}, {"anyHost", vhostJson(s, s.anyHost())}};
  if (!s.tlsHosts().empty()) {
    nlohmann::json tls = nlohmann::json::array();
    for (const auto& t : s.tlsHosts()) {
      nlohmann::json j = {{"host", t.host}, {"secret", t.secret}};
      if (t.asked != t.secret) {
        j["asked"] = t.asked;
      }
      tls.push_back(std::move(j));
    }
    out["tls"] = std::move(tls);
  }
  return out;
}

}  // namespace portico::snapshot
