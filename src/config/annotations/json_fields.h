#pragma once
// Reading the JSON annotations shaped like the AWS Load Balancer Controller's (conditions.NAME,
// actions.NAME): keys match in any case, as that controller's decoder (Go's encoding/json)
// matches them, so "Values" and "values" both work. Pure; part of the compiler.

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portico::config::annotations {

// obj[key], the key compared in any case; null when `obj` is no object or has no such key.
const nlohmann::json* member(const nlohmann::json& obj, std::string_view key);

// The keys of `obj` that are none of `known` (any case): reported, so a typo is not silent.
std::vector<std::string> unknownKeys(const nlohmann::json& obj,
                                     const std::vector<std::string_view>& known);

// A JSON string, or a number written as one ("80" and 80 both give "80").
std::optional<std::string> stringOrNumber(const nlohmann::json* value);

// A whole number in [lo, hi] given as a number or a string of digits.
std::optional<std::int64_t> integerIn(const nlohmann::json* value, std::int64_t lo,
                                      std::int64_t hi);

// The value of `annotation` parsed as JSON, or the parser's message in `error`.
std::optional<nlohmann::json> parseJson(const std::string& text, std::string& error);

}  // namespace portico::config::annotations
