#include "proxy/http_util.h"

#include "common/strings.h"

#include <vector>

namespace portico::proxy {

void removeHopByHop(http::fields& fields) {
  std::vector<std::string> named;
  const auto range = fields.equal_range(http::field::connection);
  for (auto it = range.first; it != range.second; ++it) {
    for (auto token : split(it->value(), ',')) {
      token = trim(token);
      if (!token.empty()) {
        named.emplace_back(token);
      }
    }
  }
  for (const auto& name : named) {
    fields.erase(name);
  }
  fields.erase(http::field::connection);
  fields.erase(http::field::keep_alive);
  fields.erase(http::field::proxy_connection);
  fields.erase(http::field::te);
  fields.erase(http::field::trailer);
  fields.erase(http::field::transfer_encoding);
  fields.erase(http::field::upgrade);
}

std::string_view requestPath(std::string_view target, std::string_view* authority) {
  if (!target.empty() && target.front() != '/') {
    const std::size_t scheme_end = target.find("://");
    if (scheme_end != std::string_view::npos) {
      std::string_view rest = target.substr(scheme_end + 3);
      const std::size_t path_start = rest.find_first_of("/?");
      if (authority != nullptr) {
        *authority = rest.substr(0, path_start);
      }
      target = path_start == std::string_view::npos ? std::string_view("/")
                                                    : rest.substr(path_start);
      if (!target.empty() && target.front() == '?') {
        return "/";
      }
    }
  }
  const std::size_t q = target.find_first_of("?#");
  return q == std::string_view::npos ? target : target.substr(0, q);
}

bool isIdempotent(http::verb method) {
  switch (method) {
    case http::verb::get:
    case http::verb::head:
    case http::verb::options:
    case http::verb::trace:
    case http::verb::put:
    case http::verb::delete_:
      return true;
    default:
      return false;
  }
}

std::string httpDate(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  const std::size_t n = std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(buf, n);
}

void appendForwardedFor(http::fields& fields, std::string_view client_address) {
  std::string value;
  const auto range = fields.equal_range("X-Forwarded-For");
  for (auto it = range.first; it != range.second; ++it) {
    if (!value.empty()) {
      value += ", ";
    }
    value.append(it->value().data(), it->value().size());
  }
  if (!value.empty()) {
    value += ", ";
  }
  value += client_address;
  fields.set("X-Forwarded-For", value);
}

}  // namespace portico::proxy
