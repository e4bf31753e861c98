#pragma once
// portico.dev/actions.NAME: what the rules whose backend is {service: {name: NAME, port:
// {name: use-annotation}}} do. JSON shaped like the AWS Load Balancer Controller's
// actions.NAME, keys in any case:
//   {"type": "forward", "forwardConfig": {
//      "targetGroups": [{"serviceName": "v1", "servicePort": 80, "weight": 70},
//                       {"serviceName": "v2", "servicePort": "http", "weight": 30}],
//      "targetGroupStickinessConfig": {"enabled": true, "durationSeconds": 3600,
//                                      "cookieName": "portico-tg"}}}
//   {"type": "redirect", "redirectConfig": {"protocol": "HTTPS", "host": "#{host}",
//      "port": "443", "path": "/#{path}", "query": "#{query}", "statusCode": "HTTP_301"}}
//   {"type": "fixed-response", "fixedResponseConfig": {"statusCode": "503",
//      "contentType": "text/plain", "messageBody": "down for maintenance"}}
// Pure; part of the compiler.

#include "config/compiler.h"
#include "model/types.h"
#include "snapshot/route.h"

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace portico::config::annotations {

inline constexpr char kActionsPrefix[] = "portico.dev/actions.";
inline constexpr char kUseAnnotation[] = "use-annotation";
inline constexpr char kDefaultStickyCookie[] = "portico-tg";

// A target group of a forward action: a Service port of the Ingress's namespace.
struct ActionTarget {
  std::string service;
  model::ServiceBackendPort port;
  std::uint32_t weight = 1;
  bool operator==(const ActionTarget&) const = default;
};

struct ForwardAction {
  std::vector<ActionTarget> targets;
  std::uint32_t sticky_seconds = 0;
  std::string sticky_cookie;
  bool operator==(const ForwardAction&) const = default;
};

using ParsedAction = std::variant<ForwardAction, snapshot::Redirect, snapshot::FixedResponse>;

// The action `ingress` defines as `name`; nullopt when it defines none or it is wrong (then a
// diagnostic naming the annotation is added; `field` is the backend that refers to it).
std::optional<ParsedAction> parseAction(const model::Ingress& ingress, const std::string& name,
                                        const std::string& field,
                                        std::vector<Diagnostic>& diagnostics);

// One annotation value; nullopt with `error` set when it is wrong.
std::optional<ParsedAction> parseActionJson(const std::string& text, std::string& error);

}  // namespace portico::config::annotations
