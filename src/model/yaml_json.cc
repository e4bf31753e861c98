#include "model/yaml_json.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>

namespace portico::model {

namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// [-+]?[0-9]+
bool isInteger(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    s.remove_prefix(1);
  }
  return !s.empty() && std::all_of(s.begin(), s.end(), isDigit);
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?  (the YAML 1.2 core schema's float)
bool isFloat(std::string_view s) {
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) {
    ++i;
  }
  const std::size_t int_start = i;
  while (i < s.size() && isDigit(s[i])) {
    ++i;
  }
  const bool int_digits = i > int_start;
  bool frac_digits = false;
  if (i < s.size() && s[i] == '.') {
    ++i;
    const std::size_t frac_start = i;
    while (i < s.size() && isDigit(s[i])) {
      ++i;
    }
    frac_digits = i > frac_start;
  }
  if (!int_digits && !frac_digits) {
    return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) {
      ++i;
    }
    const std::size_t exp_start = i;
    while (i < s.size() && isDigit(s[i])) {
      ++i;
    }
    if (i == exp_start) {
      return false;
    }
  }
  return i == s.size();
}

nlohmann::json plainScalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") {
    return nullptr;
  }
  if (s == "true" || s == "True" || s == "TRUE") {
    return true;
  }
  if (s == "false" || s == "False" || s == "FALSE") {
    return false;
  }
  if (isInteger(s)) {
    std::int64_t v = 0;
    const char* begin = s.data() + (s[0] == '+' ? 1 : 0);
    auto [ptr, ec] = std::from_chars(begin, s.data() + s.size(), v);
    if (ec == std::errc{} && ptr == s.data() + s.size()) {
      return v;
    }
    return s;  // out of range: keep the text
  }
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
    std::int64_t v = 0;
    auto [ptr, ec] = std::from_chars(s.data() + 2, s.data() + s.size(), v, s[1] == 'x' ? 16 : 8);
    if (ec == std::errc{} && ptr == s.data() + s.size()) {
      return v;
    }
  }
  if (isFloat(s)) {
    return std::stod(s);
  }
  return s;
}

nlohmann::json toJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      // Tag "!" marks a quoted (non-plain) scalar: always a string.
      if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") {
        return node.Scalar();
      }
      return plainScalar(node.Scalar());
    case YAML::NodeType::Sequence: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& item : node) {
        out.push_back(toJson(item));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& kv : node) {
        out[kv.first.as<std::string>()] = toJson(kv.second);
      }
      return out;
    }
  }
  return nullptr;
}

void appendFlattened(nlohmann::json doc, std::vector<nlohmann::json>* out) {
  if (doc.is_null()) {
    return;
  }
  if (doc.is_object() && doc.value("kind", "") == "List" && doc.contains("items") &&
      doc["items"].is_array()) {
    for (auto& item : doc["items"]) {
      appendFlattened(std::move(item), out);
    }
    return;
  }
  out->push_back(std::move(doc));
}

}  // namespace

Result<std::vector<nlohmann::json>> parseManifestText(std::string_view text, TextFormat format) {
  std::vector<nlohmann::json> out;
  if (format == TextFormat::kJson) {
    try {
      appendFlattened(nlohmann::json::parse(text), &out);
    } catch (const nlohmann::json::exception& e) {
      return Error{std::string("invalid JSON: ") + e.what()};
    }
    return out;
  }
  try {
    for (const auto& node : YAML::LoadAll(std::string(text))) {
      appendFlattened(toJson(node), &out);
    }
  } catch (const YAML::Exception& e) {
    return Error{"invalid YAML: line " + std::to_string(e.mark.line + 1) + ", column " +
                 std::to_string(e.mark.column + 1) + ": " + e.msg};
  }
  return out;
}

}  // namespace portico::model
