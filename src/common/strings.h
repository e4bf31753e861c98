#pragma once
// Small string and value-parsing helpers shared by every module. Pure; any thread.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portico {

std::string toLower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
std::string_view trim(std::string_view s);
std::vector<std::string_view> split(std::string_view s, char sep);
bool startsWith(std::string_view s, std::string_view prefix);
bool endsWith(std::string_view s, std::string_view suffix);
// FNV-1a, 64 bits: the same on every build and platform (stable keys: stickiness cookies, the
// ring hash).
std::uint64_t fnv1a64(std::string_view s);

// Whether certificate name `name` covers `host` (both lower-case, no port): equal, or a wildcard
// "*.a.test" that stands for exactly one label ("b.a.test"; not "a.test", not "c.b.a.test").
bool dnsNameCovers(std::string_view name, std::string_view host);
// The wildcard name one label up that covers `host` ("b.a.test" -> "*.a.test"); empty when the
// host has no first label to stand for, or is a wildcard itself.
std::string wildcardFor(std::string_view host);

// Visits each non-empty element of a comma-separated list (RFC 9110 5.6.1), trimmed, in order.
// Stops when `f` returns false, and returns false then; true otherwise.
template <class F>
bool forEachListElement(std::string_view list, F&& f) {
  while (true) {
    const std::size_t comma = list.find(',');
    const std::string_view element = trim(list.substr(0, comma));
    if (!element.empty() && !f(element)) {
      return false;
    }
    if (comma == std::string_view::npos) {
      return true;
    }
    list.remove_prefix(comma + 1);
  }
}

// "250ms", "30s", "5m", "1h", or a bare number of seconds ("30"). nullopt when malformed.
std::optional<std::chrono::milliseconds> parseDuration(std::string_view s);

// Byte sizes as Kubernetes quantities or nginx sizes: "64Ki", "1Mi", "2Gi", "10k", "10m", "1g",
// "1024". nullopt when malformed or overflowing.
std::optional<std::uint64_t> parseSize(std::string_view s);

// A non-negative decimal integer that fits in T's range of uint64; nullopt otherwise.
std::optional<std::uint64_t> parseUint(std::string_view s);

}  // namespace portico
