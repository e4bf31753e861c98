#include "config/annotations/target_group.h"

#include "common/strings.h"
#include "config/annotations/table.h"

#include <algorithm>

namespace portico::config::annotations {

using snapshot::Algorithm;
using snapshot::HealthCheck;

bool TargetGroupAnnotations::anyHealthCheck() const {
  return hc_path || hc_port || hc_protocol || hc_interval || hc_timeout || healthy || unhealthy ||
         success_codes;
}

bool TargetGroupAnnotations::any() const {
  return anyHealthCheck() || algorithm || hash || slow_start || deregistration_delay ||
         ejection_failures || ejection_seconds || target_service;
}

std::optional<std::vector<std::pair<std::uint16_t, std::uint16_t>>> parseSuccessCodes(
    std::string_view text) {
  std::vector<std::pair<std::uint16_t, std::uint16_t>> out;
  for (auto part : split(text, ',')) {
    part = trim(part);
    const std::size_t dash = part.find('-');
    auto lo = parseUint(trim(part.substr(0, dash)));
    auto hi = dash == std::string_view::npos ? lo : parseUint(trim(part.substr(dash + 1)));
    if (!lo || !hi || *lo < 200 || *hi > 499 || *lo > *hi) {
      return std::nullopt;
    }
    out.emplace_back(static_cast<std::uint16_t>(*lo), static_cast<std::uint16_t>(*hi));
  }
  if (out.empty()) {
    return std::nullopt;
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<TargetGroupAnnotations> parseTargetGroup(const model::ObjectMeta& meta,
                                                       const char* kind,
                                                       std::vector<Diagnostic>& diagnostics) {
  TargetGroupAnnotations a;
  if (const auto [first, last] = porticoAnnotations(meta); first == last) {
    return a;  // most objects: nothing to look up
  }
  bool ok = true;
  const auto bad = [&](const char* name, const std::string& value, const std::string& why) {
    diagnostics.push_back(Diagnostic{Diagnostic::Severity::kError, kind, meta.key(),
                                     std::string("metadata.annotations[\"") + name + "\"]",
                                     "\"" + value + "\" " + why});
    ok = false;
  };
  const auto get = [&](const char* name) -> const std::string* {
    auto it = meta.annotations.find(name);
    return it == meta.annotations.end() ? nullptr : &it->second;
  };
  const auto number = [&](const char* name, std::uint64_t lo, std::uint64_t hi,
                          std::optional<std::uint32_t>& out) {
    if (const std::string* v = get(name)) {
      auto n = parseUint(trim(*v));
      if (!n || *n < lo || *n > hi) {
        bad(name, *v,
            "must be a whole number from " + std::to_string(lo) + " to " + std::to_string(hi));
      } else {
        out = static_cast<std::uint32_t>(*n);
      }
    }
  };
  if (const std::string* v = get(kHealthcheckPath)) {
    const std::string_view p = trim(*v);
    bool clean = !p.empty() && p.front() == '/' && p.size() <= 1024;
    for (char c : p) {
      clean = clean && static_cast<unsigned char>(c) > 0x20 && c != 0x7f && c != '#';
    }
    if (!clean) {
      bad(kHealthcheckPath, *v, "must be a path starting with '/', without spaces");
    } else {
      a.hc_path = std::string(p);
    }
  }
  if (const std::string* v = get(kHealthcheckPort)) {
    const std::string_view p = trim(*v);
    auto n = parseUint(p);
    if (p == "traffic-port") {
      a.hc_port = 0;
    } else if (!n || *n == 0 || *n > 65535) {
      bad(kHealthcheckPort, *v, "must be traffic-port or a port from 1 to 65535");
    } else {
      a.hc_port = static_cast<std::uint16_t>(*n);
    }
  }
  if (const std::string* v = get(kHealthcheckProtocol)) {
    const std::string p = toLower(trim(*v));
    if (p == "http") {
      a.hc_protocol = HealthCheck::Protocol::kHttp;
    } else if (p == "https") {
      a.hc_protocol = HealthCheck::Protocol::kHttps;
    } else if (p == "tcp") {
      a.hc_protocol = HealthCheck::Protocol::kTcp;
    } else {
      bad(kHealthcheckProtocol, *v, "must be HTTP, HTTPS or TCP");
    }
  }
  number(kHealthcheckInterval, 1, 300, a.hc_interval);
  number(kHealthcheckTimeout, 1, 120, a.hc_timeout);
  if (a.hc_interval && a.hc_timeout && *a.hc_timeout > *a.hc_interval) {
    bad(kHealthcheckTimeout, get(kHealthcheckTimeout)->c_str(),
        "must be at most the interval (" + std::to_string(*a.hc_interval) + " s)");
  }
  number(kHealthyThreshold, 1, 10, a.healthy);
  number(kUnhealthyThreshold, 1, 10, a.unhealthy);
  if (const std::string* v = get(kSuccessCodes)) {
    a.success_codes = parseSuccessCodes(*v);
    if (!a.success_codes) {
      bad(kSuccessCodes, *v, "must be statuses from 200 to 499: \"200\", \"200,204\", \"200-299\"");
    }
  }
  if (const std::string* v = get(kAlgorithm)) {
    const std::string name = toLower(trim(*v));
    static const std::pair<const char*, Algorithm> kNames[] = {
        {"round_robin", Algorithm::kRoundRobin},
        {"least_request", Algorithm::kLeastRequest},
        {"least_outstanding_requests", Algorithm::kLeastRequest},
        {"ewma", Algorithm::kEwma},
        {"random", Algorithm::kRandom},
        {"weighted_random", Algorithm::kRandom},
        {"ring_hash", Algorithm::kRingHash}};
    for (const auto& [n, alg] : kNames) {
      if (name == n) {
        a.algorithm = alg;
      }
    }
    if (!a.algorithm) {
      bad(kAlgorithm, *v, "must be round_robin, least_request, ewma, random or ring_hash");
    }
  }
  if (const std::string* v = get(kHashKey)) {
    const std::string_view key = trim(*v);
    snapshot::HashOn on;
    const std::size_t colon = key.find(':');
    const std::string kind_name = toLower(key.substr(0, colon));
    const std::string_view name =
        colon == std::string_view::npos ? std::string_view() : trim(key.substr(colon + 1));
    bool valid = true;
    if (kind_name == "source-ip" && colon == std::string_view::npos) {
      on.kind = snapshot::HashOn::Kind::kSourceIp;
    } else if ((kind_name == "header" || kind_name == "cookie") && !name.empty() &&
               name.find_first_of(" \t;,=") == std::string_view::npos) {
      on.kind =
          kind_name == "header" ? snapshot::HashOn::Kind::kHeader : snapshot::HashOn::Kind::kCookie;
      on.name = kind_name == "header" ? toLower(name) : std::string(name);
    } else {
      valid = false;
    }
    if (!valid) {
      bad(kHashKey, *v, "must be source-ip, header:NAME or cookie:NAME");
    } else {
      a.hash = on;
    }
  }
  number(kSlowStart, 0, 900, a.slow_start);
  number(kDeregistrationDelay, 0, 3600, a.deregistration_delay);
  number(kPassiveFailures, 0, 1000, a.ejection_failures);
  number(kPassiveEjection, 1, 3600, a.ejection_seconds);
  if (const std::string* v = get(kTargetType)) {
    const std::string t = toLower(trim(*v));
    if (t == "ip" || t == "service") {
      a.target_service = t == "service";
    } else if (t == "instance") {
      bad(kTargetType, *v, "is the ALB's node-port mode; portico takes ip or service");
    } else {
      bad(kTargetType, *v, "must be ip or service");
    }
  }
  if (!ok) {
    return std::nullopt;
  }
  return a;
}

bool targetsService(const TargetGroupAnnotations* ingress, const TargetGroupAnnotations* service) {
  if (service != nullptr && service->target_service) {
    return *service->target_service;
  }
  return ingress != nullptr && ingress->target_service.value_or(false);
}

snapshot::TargetGroupSettings resolveTargetGroup(const TargetGroupAnnotations* ingress,
                                                 const TargetGroupAnnotations* service) {
  snapshot::TargetGroupSettings s;
  const auto pick = [&](auto member, auto& out) {
    if (service != nullptr && (service->*member)) {
      out = *(service->*member);
    } else if (ingress != nullptr && (ingress->*member)) {
      out = *(ingress->*member);
    }
  };
  using A = TargetGroupAnnotations;
  HealthCheck& h = s.health;
  h.enabled = (ingress != nullptr && ingress->anyHealthCheck()) ||
              (service != nullptr && service->anyHealthCheck());
  pick(&A::hc_path, h.path);
  pick(&A::hc_port, h.port);
  pick(&A::hc_protocol, h.protocol);
  pick(&A::hc_interval, h.interval_seconds);
  pick(&A::hc_timeout, h.timeout_seconds);
  pick(&A::healthy, h.healthy_threshold);
  pick(&A::unhealthy, h.unhealthy_threshold);
  pick(&A::success_codes, h.success_codes);
  h.timeout_seconds = std::min(h.timeout_seconds, h.interval_seconds);
  pick(&A::algorithm, s.algorithm);
  pick(&A::hash, s.hash);
  pick(&A::slow_start, s.slow_start_seconds);
  pick(&A::deregistration_delay, s.deregistration_delay_seconds);
  pick(&A::ejection_failures, s.ejection_failures);
  pick(&A::ejection_seconds, s.ejection_seconds);
  return s;
}

}  // namespace portico::config::annotations
