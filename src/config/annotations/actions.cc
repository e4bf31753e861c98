#include "config/annotations/actions.h"

#include "common/strings.h"
#include "config/annotations/json_fields.h"

#include <algorithm>

namespace portico::config::annotations {

namespace {

// The ALB's limits.
constexpr std::int64_t kMaxWeight = 999;
constexpr std::int64_t kMaxStickySeconds = 7 * 24 * 3600;
constexpr std::size_t kMaxBody = 1024;
constexpr std::size_t kMaxTargets = 5;

bool isCookieName(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool hasControl(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return true;
    }
  }
  return false;
}

std::optional<ParsedAction> parseForward(const nlohmann::json& config, std::string& error) {
  const nlohmann::json* groups = member(config, "targetGroups");
  if (groups == nullptr || !groups->is_array() || groups->empty()) {
    error =
        "forwardConfig needs a non-empty list \"targetGroups\" of {serviceName, servicePort, "
        "weight}";
    return std::nullopt;
  }
  if (groups->size() > kMaxTargets) {
    error = "forwardConfig has more than " + std::to_string(kMaxTargets) + " targetGroups";
    return std::nullopt;
  }
  ForwardAction forward;
  std::uint64_t total = 0;
  for (const auto& g : *groups) {
    if (member(g, "targetGroupARN") != nullptr || member(g, "targetGroupName") != nullptr) {
      error =
          "targetGroupARN and targetGroupName name AWS target groups; use serviceName and "
          "servicePort";
      return std::nullopt;
    }
    const nlohmann::json* name = member(g, "serviceName");
    if (name == nullptr || !name->is_string() || name->get<std::string>().empty()) {
      error = "each of targetGroups needs a \"serviceName\"";
      return std::nullopt;
    }
    ActionTarget t;
    t.service = name->get<std::string>();
    auto port = stringOrNumber(member(g, "servicePort"));
    if (!port || port->empty()) {
      error = "target group " + t.service + " needs a \"servicePort\" (a number or a name)";
      return std::nullopt;
    }
    if (auto n = parseUint(*port)) {
      if (*n == 0 || *n > 65535) {
        error = "target group " + t.service + ": servicePort " + *port + " is not a port";
        return std::nullopt;
      }
      t.port.number = static_cast<std::int32_t>(*n);
    } else {
      t.port.name = *port;
    }
    const nlohmann::json* weight = member(g, "weight");
    if (weight != nullptr) {
      auto w = integerIn(weight, 0, kMaxWeight);
      if (!w) {
        error = "target group " + t.service + ": weight must be a whole number from 0 to " +
                std::to_string(kMaxWeight);
        return std::nullopt;
      }
      t.weight = static_cast<std::uint32_t>(*w);
    }
    total += t.weight;
    forward.targets.push_back(std::move(t));
  }
  if (total == 0) {
    error = "the weights of targetGroups sum to 0: nothing would get traffic";
    return std::nullopt;
  }
  if (const nlohmann::json* sticky = member(config, "targetGroupStickinessConfig")) {
    const nlohmann::json* enabled = member(*sticky, "enabled");
    if (enabled != nullptr && !enabled->is_boolean()) {
      error = "targetGroupStickinessConfig.enabled must be true or false";
      return std::nullopt;
    }
    if (enabled != nullptr && enabled->get<bool>()) {
      const nlohmann::json* duration = member(*sticky, "durationSeconds");
      auto seconds = duration == nullptr ? std::optional<std::int64_t>(3600)
                                         : integerIn(duration, 1, kMaxStickySeconds);
      if (!seconds) {
        error = "targetGroupStickinessConfig.durationSeconds must be from 1 to " +
                std::to_string(kMaxStickySeconds);
        return std::nullopt;
      }
      forward.sticky_seconds = static_cast<std::uint32_t>(*seconds);
      forward.sticky_cookie = kDefaultStickyCookie;
      if (const nlohmann::json* cookie = member(*sticky, "cookieName")) {
        if (!cookie->is_string() || !isCookieName(cookie->get<std::string>())) {
          error = "targetGroupStickinessConfig.cookieName must be a cookie name of [A-Za-z0-9._-]";
          return std::nullopt;
        }
        forward.sticky_cookie = cookie->get<std::string>();
      }
    }
  }
  return forward;
}

// A redirect part: a template, checked for characters that would break the Location header.
bool redirectPart(const nlohmann::json& config, const char* key, std::string& out,
                  std::string& error) {
  const nlohmann::json* v = member(config, key);
  if (v == nullptr) {
    return true;
  }
  auto text = stringOrNumber(v);
  if (!text || hasControl(*text) || text->find(' ') != std::string::npos) {
    error = std::string("redirectConfig.") + key +
            " must be a string without spaces or "
            "control characters";
    return false;
  }
  out = *text;
  return true;
}

std::optional<ParsedAction> parseRedirect(const nlohmann::json& config, std::string& error) {
  snapshot::Redirect r;
  if (!redirectPart(config, "protocol", r.protocol, error) ||
      !redirectPart(config, "host", r.host, error) ||
      !redirectPart(config, "port", r.port, error) ||
      !redirectPart(config, "path", r.path, error) ||
      !redirectPart(config, "query", r.query, error)) {
    return std::nullopt;
  }
  const std::string protocol = toLower(r.protocol);
  if (protocol != "http" && protocol != "https" && protocol != "#{protocol}") {
    error = "redirectConfig.protocol must be HTTP, HTTPS or #{protocol}";
    return std::nullopt;
  }
  r.protocol = protocol;
  std::string bare = r.host;  // without its placeholders, for the character check
  for (const char* p : {"#{host}", "#{port}", "#{protocol}", "#{path}", "#{query}"}) {
    for (auto at = bare.find(p); at != std::string::npos; at = bare.find(p)) {
      bare.erase(at, std::string_view(p).size());
    }
  }
  if (r.host.empty() || bare.find_first_of("/?#@") != std::string::npos) {
    error = "redirectConfig.host must be a host name (or #{host})";
    return std::nullopt;
  }
  if (r.port != "#{port}") {
    auto n = parseUint(r.port);
    if (!n || *n == 0 || *n > 65535) {
      error = "redirectConfig.port must be a port from 1 to 65535 (or #{port})";
      return std::nullopt;
    }
  }
  if (r.path.empty() || r.path.front() != '/') {
    error = "redirectConfig.path must start with '/'";
    return std::nullopt;
  }
  if (!r.query.empty() && r.query.front() == '?') {
    error = "redirectConfig.query is written without its leading '?'";
    return std::nullopt;
  }
  if (r.protocol == "#{protocol}" && r.host == "#{host}" && r.port == "#{port}" &&
      r.path == "/#{path}" && r.query == "#{query}") {
    error = "redirectConfig changes nothing: the client would be sent where it is (a loop)";
    return std::nullopt;
  }
  const nlohmann::json* code = member(config, "statusCode");
  const std::string status = code != nullptr && code->is_string() ? code->get<std::string>() : "";
  if (status == "HTTP_301") {
    r.status = 301;
  } else if (status == "HTTP_302") {
    r.status = 302;
  } else {
    error = "redirectConfig.statusCode must be HTTP_301 or HTTP_302";
    return std::nullopt;
  }
  return r;
}

std::optional<ParsedAction> parseFixed(const nlohmann::json& config, std::string& error) {
  snapshot::FixedResponse f;
  auto code = integerIn(member(config, "statusCode"), 200, 599);
  if (!code || (*code >= 300 && *code < 400)) {
    error = "fixedResponseConfig.statusCode must be a 2XX, 4XX or 5XX status";
    return std::nullopt;
  }
  f.status = static_cast<unsigned>(*code);
  if (const nlohmann::json* type = member(config, "contentType")) {
    static const char* const kTypes[] = {"text/plain", "text/css", "text/html",
                                         "application/javascript", "application/json"};
    const std::string t = type->is_string() ? toLower(type->get<std::string>()) : "";
    if (std::none_of(std::begin(kTypes), std::end(kTypes), [&](const char* k) { return t == k; })) {
      error =
          "fixedResponseConfig.contentType must be one of text/plain, text/css, text/html, "
          "application/javascript, application/json";
      return std::nullopt;
    }
    f.content_type = t;
  }
  if (const nlohmann::json* body = member(config, "messageBody")) {
    if (!body->is_string() || body->get<std::string>().size() > kMaxBody) {
      error = "fixedResponseConfig.messageBody must be a string of at most " +
              std::to_string(kMaxBody) + " bytes";
      return std::nullopt;
    }
    f.body = body->get<std::string>();
  }
  return f;
}

}  // namespace

std::optional<ParsedAction> parseActionJson(const std::string& text, std::string& error) {
  auto j = parseJson(text, error);
  if (!j) {
    return std::nullopt;
  }
  const nlohmann::json* type = member(*j, "type");
  if (type == nullptr || !type->is_string()) {
    error = "must be a JSON object with a \"type\": forward, redirect or fixed-response";
    return std::nullopt;
  }
  const std::string t = toLower(type->get<std::string>());
  const auto config = [&](const char* key) -> const nlohmann::json* {
    const nlohmann::json* c = member(*j, key);
    if (c == nullptr || !c->is_object()) {
      error = std::string("type ") + t + " needs an object \"" + key + "\"";
      return nullptr;
    }
    return c;
  };
  if (t == "forward") {
    const nlohmann::json* c = config("forwardConfig");
    return c == nullptr ? std::nullopt : parseForward(*c, error);
  }
  if (t == "redirect") {
    const nlohmann::json* c = config("redirectConfig");
    return c == nullptr ? std::nullopt : parseRedirect(*c, error);
  }
  if (t == "fixed-response") {
    const nlohmann::json* c = config("fixedResponseConfig");
    return c == nullptr ? std::nullopt : parseFixed(*c, error);
  }
  error = "\"" + type->get<std::string>() +
          "\" is not an action type (forward, redirect, fixed-response)";
  return std::nullopt;
}

std::optional<ParsedAction> parseAction(const model::Ingress& ingress, const std::string& name,
                                        const std::string& field,
                                        std::vector<Diagnostic>& diagnostics) {
  const std::string annotation = kActionsPrefix + name;
  auto it = ingress.meta.annotations.find(annotation);
  if (it == ingress.meta.annotations.end()) {
    diagnostics.push_back(
        Diagnostic{Diagnostic::Severity::kError, "Ingress", ingress.meta.key(), field,
                   "port \"" + std::string(kUseAnnotation) + "\" asks for annotation " +
                       annotation + ", which the Ingress does not have"});
    return std::nullopt;
  }
  std::string error;
  auto action = parseActionJson(it->second, error);
  if (!action) {
    diagnostics.push_back(Diagnostic{Diagnostic::Severity::kError, "Ingress", ingress.meta.key(),
                                     "metadata.annotations[\"" + annotation + "\"]", error});
  }
  return action;
}

}  // namespace portico::config::annotations
