#pragma once
// Structured logging to stderr, one line per record, as JSON ({"ts","level","msg",...fields})
// or as text. Thread-safe: a record is formatted on the caller's thread and written with one
// fwrite under a mutex. Never on the request path except for warnings about failures.

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace portico::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class Format { kJson, kText };

// Parses "debug" | "info" | "warn" | "error"; false when unknown.
bool parseLevel(std::string_view s, Level* out);
bool parseFormat(std::string_view s, Format* out);

void configure(Level level, Format format);
bool enabled(Level level);

void write(Level level, std::string_view msg, const nlohmann::json& fields);

inline void debug(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object()) {
  if (enabled(Level::kDebug)) {
    write(Level::kDebug, msg, fields);
  }
}
inline void info(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object()) {
  if (enabled(Level::kInfo)) {
    write(Level::kInfo, msg, fields);
  }
}
inline void warn(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object()) {
  if (enabled(Level::kWarn)) {
    write(Level::kWarn, msg, fields);
  }
}
inline void error(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object()) {
  write(Level::kError, msg, fields);
}

}  // namespace portico::log
