#pragma once
// portico.dev/conditions.NAME: extra conditions for the rules of an Ingress whose backend is
// the Service (or action) NAME. A JSON list shaped like the AWS Load Balancer Controller's
// conditions.NAME, keys in any case; all conditions must hold, any value of one condition may:
//   [{"field": "http-header",
//     "httpHeaderConfig": {"httpHeaderName": "X-Env", "values": ["canary", "beta-*"]}},
//    {"field": "query-string",
//     "queryStringConfig": {"values": [{"key": "version", "value": "v2"}, {"value": "x?"}]}},
//    {"field": "http-request-method", "httpRequestMethodConfig": {"values": ["GET", "HEAD"]}},
//    {"field": "source-ip", "sourceIpConfig": {"values": ["10.0.0.0/8", "2001:db8::/32"]}},
//    {"field": "host-header", "hostHeaderConfig": {"values": ["*.example.com"]}},
//    {"field": "path-pattern", "pathPatternConfig": {"values": ["/api/*/items"]}}]
// Pure; part of the compiler.

#include "config/compiler.h"
#include "model/types.h"
#include "snapshot/route.h"

#include <optional>
#include <string>
#include <vector>

namespace portico::config::annotations {

inline constexpr char kConditionsPrefix[] = "portico.dev/conditions.";

// The conditions `ingress` gives to its rules whose backend is `name`: empty when it gives none,
// nullopt when the annotation is wrong (then a diagnostic naming it is added).
std::optional<std::vector<snapshot::Condition>> parseConditions(
    const model::Ingress& ingress, const std::string& name, std::vector<Diagnostic>& diagnostics);

// The conditions of one annotation value; nullopt with `error` set when it is wrong.
std::optional<std::vector<snapshot::Condition>> parseConditionsJson(const std::string& text,
                                                                    std::string& error);

// An IPv4 or IPv6 CIDR ("10.0.0.0/8", "2001:db8::/32"); a bare address is a /32 or /128.
std::optional<snapshot::IpRange> parseCidr(const std::string& text);

}  // namespace portico::config::annotations
