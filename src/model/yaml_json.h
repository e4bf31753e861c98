#pragma once
// Manifest text to JSON documents: multi-document YAML (YAML 1.2 core schema for plain
// scalars, quoted scalars stay strings) or JSON; `kind: List` is flattened into its items.
// Pure; any thread.

#include "common/result.h"

#include <nlohmann/json.hpp>

#include <string_view>
#include <vector>

namespace portico::model {

enum class TextFormat { kYaml, kJson };

Result<std::vector<nlohmann::json>> parseManifestText(std::string_view text, TextFormat format);

}  // namespace portico::model
