#include "config/annotations/conditions.h"

#include "common/strings.h"
#include "config/annotations/json_fields.h"

#include <arpa/inet.h>

#include <cstring>

namespace portico::config::annotations {

using snapshot::Condition;

namespace {

// The ALB's limits: at most 5 values in one condition, each of at most 128 characters.
constexpr std::size_t kMaxValues = 5;
constexpr std::size_t kMaxValueLength = 128;

bool isToken(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
    if (!ok) {
      return false;
    }
  }
  return true;
}

// The "values" list of a condition's config (or, for host-header and path-pattern, of the
// condition itself, as the controller's older shape has it).
std::optional<std::vector<std::string>> stringValues(const nlohmann::json* config,
                                                     const nlohmann::json& condition, bool legacy,
                                                     std::string& error) {
  const nlohmann::json* values = config != nullptr ? member(*config, "values") : nullptr;
  if (values == nullptr && legacy) {
    values = member(condition, "values");
  }
  if (values == nullptr || !values->is_array() || values->empty()) {
    error = "needs a non-empty list \"values\"";
    return std::nullopt;
  }
  if (values->size() > kMaxValues) {
    error = "has more than " + std::to_string(kMaxValues) + " values";
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (const auto& v : *values) {
    if (!v.is_string() || v.get<std::string>().empty()) {
      error = "values must be non-empty strings";
      return std::nullopt;
    }
    if (v.get<std::string>().size() > kMaxValueLength) {
      error = "a value is longer than " + std::to_string(kMaxValueLength) + " characters";
      return std::nullopt;
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

std::optional<Condition> parseOne(const nlohmann::json& j, std::string& error) {
  if (!j.is_object()) {
    error = "each condition must be an object with a \"field\"";
    return std::nullopt;
  }
  const nlohmann::json* field = member(j, "field");
  if (field == nullptr || !field->is_string()) {
    error = "each condition needs a \"field\"";
    return std::nullopt;
  }
  const std::string name = toLower(field->get<std::string>());
  Condition c;
  std::string why;
  const auto fail = [&](const std::string& message) {
    error = name + ": " + message;
    return std::nullopt;
  };
  if (name == "http-header") {
    c.field = Condition::Field::kHttpHeader;
    const nlohmann::json* config = member(j, "httpHeaderConfig");
    const nlohmann::json* header = config != nullptr ? member(*config, "httpHeaderName") : nullptr;
    if (header == nullptr || !header->is_string() || !isToken(header->get<std::string>())) {
      return fail("httpHeaderConfig needs \"httpHeaderName\", a header field name");
    }
    c.header = toLower(header->get<std::string>());
    auto values = stringValues(config, j, false, why);
    if (!values) {
      return fail("httpHeaderConfig " + why);
    }
    c.values = std::move(*values);
  } else if (name == "http-request-method") {
    c.field = Condition::Field::kMethod;
    auto values = stringValues(member(j, "httpRequestMethodConfig"), j, false, why);
    if (!values) {
      return fail("httpRequestMethodConfig " + why);
    }
    for (const auto& v : *values) {
      if (!isToken(v) || v.find_first_of("*?") != std::string::npos) {
        return fail("\"" + v + "\" is not a method name (no wildcards)");
      }
    }
    c.values = std::move(*values);
  } else if (name == "host-header" || name == "path-pattern") {
    const bool host = name == "host-header";
    c.field = host ? Condition::Field::kHostHeader : Condition::Field::kPathPattern;
    const char* config_name = host ? "hostHeaderConfig" : "pathPatternConfig";
    auto values = stringValues(member(j, config_name), j, true, why);
    if (!values) {
      return fail(std::string(config_name) + " " + why);
    }
    for (auto& v : *values) {
      if (host) {
        v = toLower(v);
      } else if (v.front() != '/' && v.front() != '*') {
        return fail("\"" + v + "\" must start with '/' (or a wildcard)");
      }
    }
    c.values = std::move(*values);
  } else if (name == "query-string") {
    c.field = Condition::Field::kQueryString;
    const nlohmann::json* config = member(j, "queryStringConfig");
    const nlohmann::json* values = config != nullptr ? member(*config, "values") : nullptr;
    if (values == nullptr || !values->is_array() || values->empty()) {
      return fail("queryStringConfig needs a non-empty list \"values\" of {key, value}");
    }
    if (values->size() > kMaxValues) {
      return fail("queryStringConfig has more than " + std::to_string(kMaxValues) + " values");
    }
    for (const auto& pair : *values) {
      snapshot::QueryPattern q;
      const nlohmann::json* key = member(pair, "key");
      const nlohmann::json* value = member(pair, "value");
      if ((key != nullptr && !key->is_string()) || (value != nullptr && !value->is_string())) {
        return fail("key and value must be strings");
      }
      if (key != nullptr && !key->get<std::string>().empty()) {
        q.key = key->get<std::string>();
      }
      if (value != nullptr) {
        q.value = value->get<std::string>();
      }
      if (!q.key && !q.value) {
        return fail("each value needs a \"key\", a \"value\" or both");
      }
      c.query.push_back(std::move(q));
    }
  } else if (name == "source-ip") {
    c.field = Condition::Field::kSourceIp;
    auto values = stringValues(member(j, "sourceIpConfig"), j, false, why);
    if (!values) {
      return fail("sourceIpConfig " + why);
    }
    for (const auto& v : *values) {
      auto range = parseCidr(v);
      if (!range) {
        return fail("\"" + v + "\" is not a CIDR (like 10.0.0.0/8 or 2001:db8::/32)");
      }
      c.ranges.push_back(*range);
    }
  } else {
    error = "\"" + field->get<std::string>() +
            "\" is not a condition field (http-header, query-string, http-request-method, "
            "source-ip, host-header, path-pattern)";
    return std::nullopt;
  }
  return c;
}

}  // namespace

std::optional<snapshot::IpRange> parseCidr(const std::string& text) {
  const std::string_view t = trim(text);
  const std::size_t slash = t.find('/');
  const std::string address(t.substr(0, slash));
  snapshot::IpRange range;
  unsigned max_prefix = 128;
  in_addr v4{};
  if (inet_pton(AF_INET, address.c_str(), &v4) == 1) {
    range.address[10] = range.address[11] = 0xFF;
    std::memcpy(&range.address[12], &v4, 4);
    max_prefix = 32;
  } else if (inet_pton(AF_INET6, address.c_str(), range.address.data()) != 1) {
    return std::nullopt;
  }
  unsigned prefix = max_prefix;
  if (slash != std::string_view::npos) {
    auto n = parseUint(t.substr(slash + 1));
    if (!n || *n > max_prefix) {
      return std::nullopt;
    }
    prefix = static_cast<unsigned>(*n);
  }
  range.prefix = static_cast<std::uint8_t>(max_prefix == 32 ? prefix + 96 : prefix);
  // The host bits are cleared, so equal ranges compare equal however they were written.
  for (unsigned bit = range.prefix; bit < 128; ++bit) {
    range.address[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
  }
  return range;
}

std::optional<std::vector<Condition>> parseConditionsJson(const std::string& text,
                                                          std::string& error) {
  auto j = parseJson(text, error);
  if (!j) {
    return std::nullopt;
  }
  if (!j->is_array()) {
    error = "must be a JSON list of conditions";
    return std::nullopt;
  }
  std::vector<Condition> out;
  for (const auto& item : *j) {
    auto c = parseOne(item, error);
    if (!c) {
      return std::nullopt;
    }
    out.push_back(std::move(*c));
  }
  return out;
}

std::optional<std::vector<Condition>> parseConditions(const model::Ingress& ingress,
                                                      const std::string& name,
                                                      std::vector<Diagnostic>& diagnostics) {
  const std::string annotation = kConditionsPrefix + name;
  auto it = ingress.meta.annotations.find(annotation);
  if (it == ingress.meta.annotations.end()) {
    return std::vector<Condition>{};
  }
  std::string error;
  auto conditions = parseConditionsJson(it->second, error);
  if (!conditions) {
    diagnostics.push_back(Diagnostic{Diagnostic::Severity::kError, "Ingress", ingress.meta.key(),
                                     "metadata.annotations[\"" + annotation + "\"]", error});
  }
  return conditions;
}

}  // namespace portico::config::annotations
