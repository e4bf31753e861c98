#include "proxy/actions.h"

#include "common/strings.h"
#include "proxy/http_util.h"
#include "runtime/published_config.h"

#include <charconv>

namespace portico::proxy {

namespace {

void appendLower(std::string& out, std::string_view s) {
  for (char c : s) {
    out.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c);
  }
}

// Appends `tmpl` with its #{...} placeholders filled.
void fill(std::string& out, std::string_view tmpl, std::string_view protocol, std::string_view host,
          std::string_view port, std::string_view path, std::string_view query) {
  while (!tmpl.empty()) {
    const std::size_t at = tmpl.find("#{");
    out.append(tmpl.substr(0, at));
    if (at == std::string_view::npos) {
      return;
    }
    tmpl.remove_prefix(at);
    const std::size_t close = tmpl.find('}');
    const std::string_view name = tmpl.substr(0, close == std::string_view::npos ? 0 : close + 1);
    if (name == "#{protocol}") {
      out.append(protocol);
    } else if (name == "#{host}") {
      appendLower(out, host);
    } else if (name == "#{port}") {
      out.append(port);
    } else if (name == "#{path}") {
      out.append(path);
    } else if (name == "#{query}") {
      out.append(query);
    } else {
      out.append(tmpl.substr(0, 2));  // not a placeholder: kept as written
      tmpl.remove_prefix(2);
      continue;
    }
    tmpl.remove_prefix(name.size());
  }
}

}  // namespace

void redirectLocation(const snapshot::Redirect& r, const RequestInfo& info, bool tls,
                      std::string& out) {
  const std::string_view request_protocol = tls ? "https" : "http";
  // The Host's own port, else the protocol's default: the port the client used.
  auto [host, port] = splitHostPort(info.host);
  if (host.size() == info.host.size()) {
    port = tls ? "443" : "80";  // no port in the Host: the protocol's default
  }
  std::string_view target = info.origin_target;
  const std::size_t q = target.find('?');
  const std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
  std::string_view path = target.substr(0, q);
  if (!path.empty() && path.front() == '/') {
    path.remove_prefix(1);
  }
  out.clear();
  fill(out, r.protocol, request_protocol, host, port, path, query);
  const std::string_view protocol_out = out;
  const bool https = protocol_out == "https";
  out.append("://");
  fill(out, r.host, request_protocol, host, port, path, query);
  const std::size_t port_at = out.size();
  out.push_back(':');
  fill(out, r.port, request_protocol, host, port, path, query);
  const std::string_view port_out = std::string_view(out).substr(port_at + 1);
  if ((https && port_out == "443") || (!https && port_out == "80") || port_out.empty()) {
    out.resize(port_at);
  }
  fill(out, r.path, request_protocol, host, port, path, query);
  const std::size_t query_at = out.size();
  out.push_back('?');
  fill(out, r.query, request_protocol, host, port, path, query);
  if (out.size() == query_at + 1) {
    out.resize(query_at);
  }
}

std::string_view cookieValue(const MessageHead& head, std::string_view name) {
  for (const HeadField& f : head) {
    if (f.id != FieldId::kOther || !iequals(f.name, "cookie")) {
      continue;
    }
    std::string_view rest = f.value;
    while (!rest.empty()) {
      const std::size_t semi = rest.find(';');
      std::string_view pair = trim(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      const std::size_t eq = pair.find('=');
      if (eq != std::string_view::npos && trim(pair.substr(0, eq)) == name) {
        std::string_view value = trim(pair.substr(eq + 1));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
          value = value.substr(1, value.size() - 2);
        }
        return value;
      }
    }
  }
  return {};
}

std::uint64_t stickyKeyFrom(std::string_view value) {
  if (value.size() != 16) {
    return 0;
  }
  std::uint64_t key = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), key, 16);
  return ec == std::errc() && end == value.data() + value.size() ? key : 0;
}

void stickyCookie(std::string_view name, std::uint64_t key, std::uint32_t seconds,
                  std::string& out) {
  static const char kHex[] = "0123456789abcdef";
  out.assign(name);
  out.push_back('=');
  for (int shift = 60; shift >= 0; shift -= 4) {
    out.push_back(kHex[(key >> shift) & 0xF]);
  }
  char digits[16];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), seconds);
  (void)ec;
  out.append("; Max-Age=").append(digits, end).append("; Path=/; HttpOnly");
}

std::uint64_t ringHashKey(const snapshot::HashOn& on, const MessageHead& head,
                          const std::array<std::uint8_t, 16>* client_ip) {
  std::string_view key;
  switch (on.kind) {
    case snapshot::HashOn::Kind::kSourceIp:
      if (client_ip == nullptr) {
        return 0;
      }
      key = std::string_view(reinterpret_cast<const char*>(client_ip->data()), client_ip->size());
      break;
    case snapshot::HashOn::Kind::kHeader:
      for (const HeadField& f : head) {
        if (iequals(f.name, on.name)) {
          key = f.value;
          break;
        }
      }
      break;
    case snapshot::HashOn::Kind::kCookie:
      key = cookieValue(head, on.name);
      break;
  }
  return key.empty() ? 0 : runtime::hashKey(key);
}

}  // namespace portico::proxy
