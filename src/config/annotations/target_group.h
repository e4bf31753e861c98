#pragma once
// Target group settings, on the Ingress (for all of its backends) or on the Service (for all of
// its ports); the Service wins, annotation by annotation. Names and defaults are the AWS Load
// Balancer Controller's:
//   portico.dev/healthcheck-path ("/"), -port ("traffic-port" or a number), -protocol (HTTP,
//   HTTPS, TCP), -interval-seconds (15, from 1), -timeout-seconds (5, at most the interval),
//   portico.dev/healthy-threshold-count (2), unhealthy-threshold-count (2), success-codes
//   ("200"; lists and ranges: "200,204", "200-299")
//   portico.dev/load-balancing-algorithm: round_robin | least_request | ewma | random |
//   ring_hash, with portico.dev/load-balancing-hash-key: source-ip | header:NAME |
//   cookie:NAME (ring_hash; default source-ip)
//   portico.dev/slow-start-seconds (0: off, up to 900), deregistration-delay-seconds (300)
//   portico.dev/passive-health-failures (5; 0: off), passive-health-ejection-seconds (30)
//   portico.dev/target-type: ip (the pods of the EndpointSlices, default) | service (the
//   Service's ClusterIP and port, for meshes that balance themselves)
// Any healthcheck annotation turns active health checks on for the target group.
// Pure; part of the compiler.

#include "config/compiler.h"
#include "model/types.h"
#include "snapshot/snapshot.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace portico::config::annotations {

inline constexpr char kHealthcheckPath[] = "portico.dev/healthcheck-path";
inline constexpr char kHealthcheckPort[] = "portico.dev/healthcheck-port";
inline constexpr char kHealthcheckProtocol[] = "portico.dev/healthcheck-protocol";
inline constexpr char kHealthcheckInterval[] = "portico.dev/healthcheck-interval-seconds";
inline constexpr char kHealthcheckTimeout[] = "portico.dev/healthcheck-timeout-seconds";
inline constexpr char kHealthyThreshold[] = "portico.dev/healthy-threshold-count";
inline constexpr char kUnhealthyThreshold[] = "portico.dev/unhealthy-threshold-count";
inline constexpr char kSuccessCodes[] = "portico.dev/success-codes";
inline constexpr char kAlgorithm[] = "portico.dev/load-balancing-algorithm";
inline constexpr char kHashKey[] = "portico.dev/load-balancing-hash-key";
inline constexpr char kSlowStart[] = "portico.dev/slow-start-seconds";
inline constexpr char kDeregistrationDelay[] = "portico.dev/deregistration-delay-seconds";
inline constexpr char kPassiveFailures[] = "portico.dev/passive-health-failures";
inline constexpr char kPassiveEjection[] = "portico.dev/passive-health-ejection-seconds";
inline constexpr char kTargetType[] = "portico.dev/target-type";

// What one object's annotations say; unset fields leave the choice to the other object or the
// default.
struct TargetGroupAnnotations {
  std::optional<std::string> hc_path;
  std::optional<std::uint16_t> hc_port;  // 0: traffic-port
  std::optional<snapshot::HealthCheck::Protocol> hc_protocol;
  std::optional<std::uint32_t> hc_interval;
  std::optional<std::uint32_t> hc_timeout;
  std::optional<std::uint32_t> healthy;
  std::optional<std::uint32_t> unhealthy;
  std::optional<std::vector<std::pair<std::uint16_t, std::uint16_t>>> success_codes;
  std::optional<snapshot::Algorithm> algorithm;
  std::optional<snapshot::HashOn> hash;
  std::optional<std::uint32_t> slow_start;
  std::optional<std::uint32_t> deregistration_delay;
  std::optional<std::uint32_t> ejection_failures;
  std::optional<std::uint32_t> ejection_seconds;
  std::optional<bool> target_service;  // target-type: service
  bool any() const;
  bool anyHealthCheck() const;
  bool operator==(const TargetGroupAnnotations&) const = default;
};

// `kind` names the object in diagnostics. nullopt when an annotation has a bad value (then a
// diagnostic naming it is added).
std::optional<TargetGroupAnnotations> parseTargetGroup(const model::ObjectMeta& meta,
                                                       const char* kind,
                                                       std::vector<Diagnostic>& diagnostics);

// Whether the target group is the Service's ClusterIP (target-type: service; the Service wins).
bool targetsService(const TargetGroupAnnotations* ingress, const TargetGroupAnnotations* service);

// The settings `service` and then `ingress` (either may be null) give, over the defaults. A
// timeout over the interval that only the two together make is cut to the interval.
snapshot::TargetGroupSettings resolveTargetGroup(const TargetGroupAnnotations* ingress,
                                                 const TargetGroupAnnotations* service);

// "200", "200,202", "200-299": sorted ranges; nullopt when not a list of HTTP statuses.
std::optional<std::vector<std::pair<std::uint16_t, std::uint16_t>>> parseSuccessCodes(
    std::string_view text);

}  // namespace portico::config::annotations
