#include "model/yaml_json.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <regex>
#include <string>

namespace portico::model {

namespace {

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
  static const std::regex kInt("[-+]?[0-9]+");
  static const std::regex kFloat(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (std::regex_match(s, kInt)) {
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
  if (std::regex_match(s, kFloat)) {
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
