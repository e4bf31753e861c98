#include "config/annotations/json_fields.h"

#include "common/strings.h"

namespace portico::config::annotations {

const nlohmann::json* member(const nlohmann::json& obj, std::string_view key) {
  if (!obj.is_object()) {
    return nullptr;
  }
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (iequals(it.key(), key)) {
      return &it.value();
    }
  }
  return nullptr;
}

std::vector<std::string> unknownKeys(const nlohmann::json& obj,
                                     const std::vector<std::string_view>& known) {
  std::vector<std::string> out;
  if (!obj.is_object()) {
    return out;
  }
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool found = false;
    for (std::string_view k : known) {
      found = found || iequals(it.key(), k);
    }
    if (!found) {
      out.push_back(it.key());
    }
  }
  return out;
}

std::optional<std::string> stringOrNumber(const nlohmann::json* value) {
  if (value == nullptr) {
    return std::nullopt;
  }
  if (value->is_string()) {
    return value->get<std::string>();
  }
  if (value->is_number_integer()) {
    return std::to_string(value->get<std::int64_t>());
  }
  return std::nullopt;
}

std::optional<std::int64_t> integerIn(const nlohmann::json* value, std::int64_t lo,
                                      std::int64_t hi) {
  std::optional<std::int64_t> n;
  if (value != nullptr && value->is_number_integer()) {
    n = value->get<std::int64_t>();
  } else if (value != nullptr && value->is_string()) {
    if (auto parsed = parseUint(trim(value->get<std::string>()));
        parsed && *parsed <= static_cast<std::uint64_t>(hi)) {
      n = static_cast<std::int64_t>(*parsed);
    }
  }
  if (!n || *n < lo || *n > hi) {
    return std::nullopt;
  }
  return n;
}

std::optional<nlohmann::json> parseJson(const std::string& text, std::string& error) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    error = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 2: ..." -> from "parse"
    if (auto at = error.find("] "); at != std::string::npos) {
      error = error.substr(at + 2);
    }
    return std::nullopt;
  }
}

}  // namespace portico::config::annotations
