#include "common/strings.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>

namespace portico {

namespace {
char lowerChar(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
}  // namespace

std::string toLower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), lowerChar);
  return out;
}

std::uint64_t fnv1a64(std::string_view s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h = (h ^ c) * 1099511628211ULL;
  }
  return h;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return lowerChar(x) == lowerChar(y);
         });
}

bool dnsNameCovers(std::string_view name, std::string_view host) {
  if (name.size() > 2 && name[0] == '*' && name[1] == '.') {
    const std::size_t dot = host.find('.');
    return dot != std::string_view::npos && dot > 0 && host.substr(dot) == name.substr(1);
  }
  return name == host;
}

std::string wildcardFor(std::string_view host) {
  const std::size_t dot = host.find('.');
  if (dot == std::string_view::npos || dot == 0 || host.front() == '*') {
    return {};
  }
  std::string out = "*";
  out.append(host.substr(dot));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) {
    s.remove_suffix(1);
  }
  return s;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

bool startsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::optional<std::uint64_t> parseUint(std::string_view s) {
  std::uint64_t v = 0;
  if (s.empty()) {
    return std::nullopt;
  }
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || ptr != s.data() + s.size()) {
    return std::nullopt;
  }
  return v;
}

std::optional<std::chrono::milliseconds> parseDuration(std::string_view s) {
  s = trim(s);
  std::size_t digits = 0;
  while (digits < s.size() && std::isdigit(static_cast<unsigned char>(s[digits])) != 0) {
    ++digits;
  }
  auto n = parseUint(s.substr(0, digits));
  if (!n || *n > 1'000'000'000ULL) {
    return std::nullopt;
  }
  const std::string_view unit = s.substr(digits);
  std::uint64_t ms_per_unit = 0;
  if (unit.empty() || unit == "s") {
    ms_per_unit = 1000;
  } else if (unit == "ms") {
    ms_per_unit = 1;
  } else if (unit == "m") {
    ms_per_unit = 60'000;
  } else if (unit == "h") {
    ms_per_unit = 3'600'000;
  } else {
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(*n * ms_per_unit));
}

std::optional<std::uint64_t> parseSize(std::string_view s) {
  s = trim(s);
  std::size_t digits = 0;
  while (digits < s.size() && std::isdigit(static_cast<unsigned char>(s[digits])) != 0) {
    ++digits;
  }
  auto n = parseUint(s.substr(0, digits));
  if (!n) {
    return std::nullopt;
  }
  const std::string unit = toLower(s.substr(digits));
  std::uint64_t mult = 1;
  if (unit.empty() || unit == "b") {
    mult = 1;
  } else if (unit == "ki" || unit == "k") {
    mult = 1ULL << 10;
  } else if (unit == "mi" || unit == "m") {
    mult = 1ULL << 20;
  } else if (unit == "gi" || unit == "g") {
    mult = 1ULL << 30;
  } else {
    return std::nullopt;
  }
  if (*n > std::numeric_limits<std::uint64_t>::max() / mult) {
    return std::nullopt;
  }
  return *n * mult;
}

}  // namespace portico
