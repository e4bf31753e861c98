#include "common/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace portico::log {

namespace {
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::atomic<int> g_format{static_cast<int>(Format::kJson)};
std::mutex g_mutex;

const char* levelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

std::string timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}
}  // namespace

bool parseLevel(std::string_view s, Level* out) {
  if (s == "debug") {
    *out = Level::kDebug;
  } else if (s == "info") {
    *out = Level::kInfo;
  } else if (s == "warn" || s == "warning") {
    *out = Level::kWarn;
  } else if (s == "error") {
    *out = Level::kError;
  } else {
    return false;
  }
  return true;
}

bool parseFormat(std::string_view s, Format* out) {
  if (s == "json") {
    *out = Format::kJson;
  } else if (s == "text") {
    *out = Format::kText;
  } else {
    return false;
  }
  return true;
}

void configure(Level level, Format format) {
  g_level.store(static_cast<int>(level));
  g_format.store(static_cast<int>(format));
}

bool enabled(Level level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

void write(Level level, std::string_view msg, const nlohmann::json& fields) {
  std::string line;
  if (static_cast<Format>(g_format.load()) == Format::kJson) {
    nlohmann::json record = nlohmann::json::object();
    record["ts"] = timestamp();
    record["level"] = levelName(level);
    record["msg"] = msg;
    if (fields.is_object()) {
      for (const auto& [k, v] : fields.items()) {
        record[k] = v;
      }
    }
    line = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = timestamp() + " " + levelName(level) + " " + std::string(msg);
    if (fields.is_object()) {
      for (const auto& [k, v] : fields.items()) {
        line += " " + k + "=" +
                (v.is_string() ? v.get<std::string>()
                               : v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      }
    }
  }
  line += '\n';
  const std::lock_guard<std::mutex> lock(g_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace portico::log
