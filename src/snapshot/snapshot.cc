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
  const auto* forward = std::get_if<Forward>(&action);
  if (forward == nullptr) {
    return kNoTargetGroup;
  }
  for (const auto& t : forward->targets) {
    if (t.weight > 0) {
      return t.target_group;
    }
  }
  return kNoTargetGroup;
}

std::string_view algorithmName(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kRoundRobin:
      return "round_robin";
    case Algorithm::kLeastRequest:
      return "least_request";
    case Algorithm::kEwma:
      return "ewma";
    case Algorithm::kRandom:
      return "random";
    case Algorithm::kRingHash:
      return "ring_hash";
  }
  return "round_robin";
}

bool HealthCheck::success(unsigned status) const {
  return std::any_of(success_codes.begin(), success_codes.end(),
                     [status](const auto& r) { return status >= r.first && status <= r.second; });
}

bool IpRange::contains(const std::array<std::uint8_t, 16>& ip) const {
  const unsigned full = prefix / 8;
  for (unsigned i = 0; i < full; ++i) {
    if (ip[i] != address[i]) {
      return false;
    }
  }
  const unsigned rest = prefix % 8;
  if (rest == 0) {
    return true;
  }
  const auto mask = static_cast<std::uint8_t>(0xFFu << (8 - rest));
  return (ip[full] & mask) == (address[full] & mask);
}

namespace {
char fold(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
}  // namespace

// Iterative, with one back-tracking point (the last '*'): linear for the patterns users write,
// never exponential, no allocation.
bool globMatch(std::string_view pattern, std::string_view text, bool fold_case) {
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t star = std::string_view::npos;
  std::size_t star_t = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_t = t;
      continue;
    }
    if (p < pattern.size() && (pattern[p] == '?' || (fold_case ? fold(pattern[p]) == fold(text[t])
                                                               : pattern[p] == text[t]))) {
      ++p;
      ++t;
      continue;
    }
    if (star == std::string_view::npos) {
      return false;
    }
    p = star + 1;
    t = ++star_t;
  }
  while (p < pattern.size() && pattern[p] == '*') {
    ++p;
  }
  return p == pattern.size();
}

namespace {

bool anyGlob(const std::vector<std::string>& patterns, std::string_view text, bool fold_case) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& pattern) {
    return globMatch(pattern, text, fold_case);
  });
}

bool equalsFolded(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (fold(a[i]) != fold(b[i])) {
      return false;
    }
  }
  return true;
}

bool queryMatches(const std::vector<QueryPattern>& patterns, std::string_view query) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) {
      continue;
    }
    const std::size_t eq = pair.find('=');
    const std::string_view key = pair.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    for (const auto& q : patterns) {
      if ((!q.key || globMatch(*q.key, key, true)) &&
          (!q.value || globMatch(*q.value, value, true))) {
        return true;
      }
    }
  }
  return false;
}

bool conditionHolds(const Condition& c, const RequestView& r) {
  switch (c.field) {
    case Condition::Field::kHttpHeader: {
      if (r.header_at == nullptr) {
        return false;
      }
      std::string_view name;
      std::string_view value;
      for (std::size_t i = 0; r.header_at(r.headers, i, name, value); ++i) {
        if (equalsFolded(name, c.header) && anyGlob(c.values, value, true)) {
          return true;
        }
      }
      return false;
    }
    case Condition::Field::kQueryString:
      return queryMatches(c.query, r.query);
    case Condition::Field::kMethod:
      return std::find(c.values.begin(), c.values.end(), r.method) != c.values.end();
    case Condition::Field::kSourceIp:
      return r.source != nullptr &&
             std::any_of(c.ranges.begin(), c.ranges.end(),
                         [&](const IpRange& range) { return range.contains(*r.source); });
    case Condition::Field::kHostHeader: {
      char buf[256];
      const std::string_view host = normalizeHost(r.host, buf, sizeof(buf));
      return anyGlob(c.values, host, true);
    }
    case Condition::Field::kPathPattern:
      return anyGlob(c.values, r.path, false);
  }
  return false;
}

}  // namespace

bool Route::matches(const RequestView& request) const {
  if (!matches(request.path)) {
    return false;
  }
  for (const Condition& c : conditions) {
    if (!conditionHolds(c, request)) {
      return false;
    }
  }
  return true;
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

RouteMatch Snapshot::lookupIn(const VirtualHost& vhost, const RequestView& request) const {
  RouteMatch m;
  m.vhost = &vhost;
  for (const Route& r : vhost.routes) {
    if (r.conditions.empty() ? r.matches(request.path) : r.matches(request)) {
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
  RequestView request;
  request.host = host;
  request.path = path;
  return lookup(request);
}

RouteMatch Snapshot::lookup(const RequestView& request) const {
  char buf[256];
  const std::string_view h = normalizeHost(request.host, buf, sizeof(buf));
  if (!h.empty()) {
    const RouteTable& table = *routes_;
    if (auto it = table.exact.find(h); it != table.exact.end()) {
      return lookupIn(table.hosts[it->second], request);
    }
    // A wildcard covers exactly one more label: strip the first one and look again.
    const std::size_t dot = h.find('.');
    if (dot != std::string_view::npos && dot > 0) {
      if (auto it = table.wildcard.find(h.substr(dot + 1)); it != table.wildcard.end()) {
        return lookupIn(table.hosts[it->second], request);
      }
    }
  }
  return lookupIn(routes_->any_host, request);
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
std::string_view fieldName(Condition::Field field) {
  switch (field) {
    case Condition::Field::kHttpHeader:
      return "http-header";
    case Condition::Field::kQueryString:
      return "query-string";
    case Condition::Field::kMethod:
      return "http-request-method";
    case Condition::Field::kSourceIp:
      return "source-ip";
    case Condition::Field::kHostHeader:
      return "host-header";
    case Condition::Field::kPathPattern:
      return "path-pattern";
  }
  return "";
}

std::string rangeText(const IpRange& r) {
  static const std::array<std::uint8_t, 12> kMapped = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  std::string out;
  if (r.prefix >= 96 && std::equal(kMapped.begin(), kMapped.end(), r.address.begin())) {
    for (int i = 12; i < 16; ++i) {
      out += std::to_string(r.address[static_cast<std::size_t>(i)]);
      out += i < 15 ? "." : "";
    }
    return out + "/" + std::to_string(r.prefix - 96);
  }
  static const char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < 16; i += 2) {
    const unsigned v = (r.address[i] << 8) | r.address[i + 1];
    std::string group;
    for (int shift = 12; shift >= 0; shift -= 4) {
      const unsigned d = (v >> shift) & 0xF;
      if (!group.empty() || d != 0 || shift == 0) {
        group += kHex[d];
      }
    }
    out += group;
    out += i < 14 ? ":" : "";
  }
  return out + "/" + std::to_string(r.prefix);
}

nlohmann::json conditionJson(const Condition& c) {
  nlohmann::json j = {{"field", fieldName(c.field)}};
  if (c.field == Condition::Field::kHttpHeader) {
    j["header"] = c.header;
  }
  if (c.field == Condition::Field::kQueryString) {
    nlohmann::json q = nlohmann::json::array();
    for (const auto& p : c.query) {
      nlohmann::json pair = nlohmann::json::object();
      if (p.key) {
        pair["key"] = *p.key;
      }
      if (p.value) {
        pair["value"] = *p.value;
      }
      q.push_back(std::move(pair));
    }
    j["values"] = std::move(q);
  } else if (c.field == Condition::Field::kSourceIp) {
    nlohmann::json ranges = nlohmann::json::array();
    for (const auto& r : c.ranges) {
      ranges.push_back(rangeText(r));
    }
    j["values"] = std::move(ranges);
  } else {
    j["values"] = c.values;
  }
  return j;
}

nlohmann::json actionJson(const Snapshot& s, const Action& action) {
  if (const auto* f = std::get_if<Forward>(&action)) {
    nlohmann::json targets = nlohmann::json::array();
    for (const auto& t : f->targets) {
      targets.push_back(
          {{"targetGroup", s.targetGroups()[t.target_group].id}, {"weight", t.weight}});
    }
    nlohmann::json j = {{"forward", targets}};
    if (f->sticky_seconds > 0) {
      j["stickiness"] = {{"cookie", f->sticky_cookie}, {"seconds", f->sticky_seconds}};
    }
    return j;
  }
  if (const auto* boxed = std::get_if<Boxed<Redirect>>(&action)) {
    const Redirect* r = &**boxed;
    return {{"redirect",
             {{"protocol", r->protocol},
              {"host", r->host},
              {"port", r->port},
              {"path", r->path},
              {"query", r->query},
              {"status", r->status}}}};
  }
  const FixedResponse& fixed = *std::get<Boxed<FixedResponse>>(action);
  return {{"fixedResponse",
           {{"status", fixed.status}, {"contentType", fixed.content_type}, {"body", fixed.body}}}};
}

nlohmann::json vhostJson(const Snapshot& s, const VirtualHost& v) {
  nlohmann::json routes = nlohmann::json::array();
  for (const auto& r : v.routes) {
    nlohmann::json route = {{"match", r.match == PathMatch::kExact ? "Exact" : "Prefix"},
                            {"path", r.path},
                            {"ingress", r.ingress}};
    const auto* forward = std::get_if<Forward>(&r.action);
    if (forward != nullptr && forward->targets.size() == 1 && forward->sticky_seconds == 0) {
      route["targetGroup"] = s.targetGroups()[forward->targets.front().target_group].id;
    } else {
      route["action"] = actionJson(s, r.action);
    }
    if (!r.conditions.empty()) {
      nlohmann::json conditions = nlohmann::json::array();
      for (const auto& c : r.conditions) {
        conditions.push_back(conditionJson(c));
      }
      route["conditions"] = std::move(conditions);
    }
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
nlohmann::json settingsJson(const TargetGroupSettings& t) {
  nlohmann::json j = {{"algorithm", algorithmName(t.algorithm)},
                      {"slowStartSeconds", t.slow_start_seconds},
                      {"deregistrationDelaySeconds", t.deregistration_delay_seconds},
                      {"ejectionFailures", t.ejection_failures},
                      {"ejectionSeconds", t.ejection_seconds}};
  if (t.algorithm == Algorithm::kRingHash) {
    static constexpr const char* kKinds[] = {"source-ip", "header", "cookie"};
    j["hashOn"] = {{"kind", kKinds[static_cast<int>(t.hash.kind)]}, {"name", t.hash.name}};
  }
  if (t.health.enabled) {
    static constexpr const char* kProtocols[] = {"HTTP", "HTTPS", "TCP"};
    nlohmann::json codes = nlohmann::json::array();
    for (const auto& [lo, hi] : t.health.success_codes) {
      codes.push_back(lo == hi ? std::to_string(lo)
                               : std::to_string(lo) + "-" + std::to_string(hi));
    }
    j["healthCheck"] = {{"protocol", kProtocols[static_cast<int>(t.health.protocol)]},
                        {"path", t.health.path},
                        {"port", t.health.port},
                        {"intervalSeconds", t.health.interval_seconds},
                        {"timeoutSeconds", t.health.timeout_seconds},
                        {"healthyThreshold", t.health.healthy_threshold},
                        {"unhealthyThreshold", t.health.unhealthy_threshold},
                        {"successCodes", codes}};
  }
  return j;
}
}  // namespace

nlohmann::json toJson(const Snapshot& s) {
  nlohmann::json tgs = nlohmann::json::array();
  for (const auto& tg : s.targetGroups()) {
    nlohmann::json eps = nlohmann::json::array();
    for (const auto& e : tg.endpoints) {
      eps.push_back(e.address + ":" + std::to_string(e.port) + (e.draining ? " draining" : ""));
    }
    nlohmann::json j = {{"id", tg.id}, {"endpoints", eps}};
    if (tg.tls) {
      j["tls"] = {{"serverName", tg.tls->server_name}, {"caSecret", tg.tls->ca_secret}};
    }
    if (tg.settings != TargetGroupSettings{}) {
      j["settings"] = settingsJson(tg.settings);
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
