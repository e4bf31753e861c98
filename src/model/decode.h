#pragma once
// Decoding of Kubernetes JSON (as the API server or `kubectl get -o json|yaml` prints it) into
// model types. Pure; any thread. Every error names the object and the field:
//   "Ingress default/web: spec.rules[0].http.paths[1].path: expected a string, got number"

#include "common/result.h"
#include "model/types.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace portico::model {

// One object. Ok(nullopt) for kinds portico does not read (a Deployment in a manifest file);
// an error for a kind it reads but whose shape is wrong.
Result<std::optional<Object>> decodeObject(const nlohmann::json& doc);

// RFC 3339 ("2024-05-01T10:00:00Z", with optional fraction and offset) to Unix seconds.
std::optional<std::int64_t> parseRfc3339(const std::string& s);

// Standard base64 (with padding, whitespace ignored); nullopt when malformed.
std::optional<std::string> decodeBase64(const std::string& s);

}  // namespace portico::model
