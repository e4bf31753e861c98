#include "proxy/http_util.h"

#include "common/strings.h"

#include <array>
#include <charconv>

namespace portico::proxy {

namespace {

// Field names listed by Connection, at most a handful in practice.
class ConnectionTokens final {
 public:
  explicit ConnectionTokens(const http::fields& fields) {
    const auto range = fields.equal_range(http::field::connection);
    for (auto it = range.first; it != range.second; ++it) {
      for (auto token : split(std::string_view(it->value().data(), it->value().size()), ',')) {
        token = trim(token);
        if (!token.empty() && count_ < tokens_.size()) {
          tokens_[count_++] = token;
        }
      }
    }
  }
  bool names(std::string_view field) const {
    for (std::size_t i = 0; i < count_; ++i) {
      if (iequals(tokens_[i], field)) {
        return true;
      }
    }
    return false;
  }

 private:
  std::array<std::string_view, 16> tokens_{};
  std::size_t count_ = 0;
};

bool isHopByHop(http::field f) {
  switch (f) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_connection:
    case http::field::te:
    case http::field::trailer:
    case http::field::transfer_encoding:
    case http::field::upgrade:
      return true;
    default:
      return false;
  }
}

void appendField(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

}  // namespace

std::string_view requestPath(std::string_view target, std::string_view* authority) {
  if (!target.empty() && target.front() != '/') {
    const std::size_t scheme_end = target.find("://");
    if (scheme_end != std::string_view::npos) {
      std::string_view rest = target.substr(scheme_end + 3);
      const std::size_t path_start = rest.find_first_of("/?");
      if (authority != nullptr) {
        *authority = rest.substr(0, path_start);
      }
      target =
          path_start == std::string_view::npos ? std::string_view("/") : rest.substr(path_start);
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

void appendRequestHead(const http::request_header<>& req, const UpstreamRequestHead& head,
                       std::string& out) {
  out.append(sv(req.method_string()));
  out.push_back(' ');
  out.append(sv(req.target()));
  out.append(" HTTP/1.1\r\n");
  const ConnectionTokens named(req);
  std::string_view forwarded_for;  // the first X-Forwarded-For; later ones are joined below
  std::string joined_forwarded_for;
  bool has_request_id = false;
  for (const auto& f : req) {
    const http::field id = f.name();
    const std::string_view name = sv(f.name_string());
    if (isHopByHop(id) || id == http::field::expect || named.names(name)) {
      continue;
    }
    if (id == http::field::unknown) {
      if (iequals(name, "X-Forwarded-For")) {
        if (forwarded_for.empty() && joined_forwarded_for.empty()) {
          forwarded_for = sv(f.value());
        } else {
          if (joined_forwarded_for.empty()) {
            joined_forwarded_for = forwarded_for;
          }
          joined_forwarded_for.append(", ").append(sv(f.value()));
        }
        continue;
      }
      if (iequals(name, "X-Forwarded-Proto") || iequals(name, "X-Forwarded-Host") ||
          iequals(name, "X-Forwarded-Port")) {
        continue;
      }
      has_request_id = has_request_id || iequals(name, "X-Request-Id");
    }
    appendField(out, name, sv(f.value()));
  }
  out.append("X-Forwarded-For: ");
  if (!joined_forwarded_for.empty()) {
    out.append(joined_forwarded_for).append(", ");
  } else if (!forwarded_for.empty()) {
    out.append(forwarded_for).append(", ");
  }
  out.append(head.client_address).append("\r\n");
  appendField(out, "X-Forwarded-Proto", "http");
  appendField(out, "X-Forwarded-Host", head.host);
  appendField(out, "X-Forwarded-Port", head.listener_port);
  if (!has_request_id && !head.request_id.empty()) {
    appendField(out, "X-Request-Id", head.request_id);
  }
  if (head.chunked) {
    out.append("Transfer-Encoding: chunked\r\n");
  }
  if (!head.upgrade.empty()) {
    out.append("Connection: upgrade\r\n");
    appendField(out, "Upgrade", head.upgrade);
  }
  out.append("\r\n");
}

void appendResponseHead(const http::response_header<>& res, const ClientResponseHead& head,
                        std::string& out) {
  char status[4];
  const unsigned code = res.result_int();
  status[0] = static_cast<char>('0' + code / 100 % 10);
  status[1] = static_cast<char>('0' + code / 10 % 10);
  status[2] = static_cast<char>('0' + code % 10);
  out.append("HTTP/1.1 ");
  out.append(status, 3);
  out.push_back(' ');
  const auto reason = res.reason();
  out.append(reason.empty() ? sv(http::obsolete_reason(res.result())) : sv(reason));
  out.append("\r\n");
  const ConnectionTokens named(res);
  for (const auto& f : res) {
    const http::field id = f.name();
    if (isHopByHop(id) || id == http::field::server || id == http::field::date ||
        named.names(sv(f.name_string()))) {
      continue;
    }
    appendField(out, sv(f.name_string()), sv(f.value()));
  }
  out.append("Server: portico\r\n");
  appendField(out, "Date", head.date);
  if (head.chunked) {
    out.append("Transfer-Encoding: chunked\r\n");
  }
  switch (head.connection) {
    case ConnectionHeader::kNone:
      break;
    case ConnectionHeader::kClose:
      out.append("Connection: close\r\n");
      break;
    case ConnectionHeader::kKeepAlive:
      out.append("Connection: keep-alive\r\n");
      break;
    case ConnectionHeader::kUpgrade:
      out.append("Connection: upgrade\r\n");
      appendField(out, "Upgrade", head.upgrade);
      break;
  }
  out.append("\r\n");
}

void appendLocalResponse(unsigned status, std::string_view date, bool keep_alive, bool head_only,
                         std::string& out) {
  const std::string code = std::to_string(status);
  const auto reason = sv(http::obsolete_reason(http::int_to_status(status)));
  const std::string body = code + " " + std::string(reason) + "\n";
  out.append("HTTP/1.1 ").append(code).append(" ").append(reason).append("\r\n");
  out.append("Server: portico\r\n");
  appendField(out, "Date", date);
  out.append("Content-Type: text/plain; charset=utf-8\r\n");
  appendField(out, "Content-Length",
              head_only ? std::string_view("0") : std::to_string(body.size()));
  out.append(keep_alive ? "" : "Connection: close\r\n");
  out.append("\r\n");
  if (!head_only) {
    out.append(body);
  }
}

std::size_t chunkPrefix(std::size_t n, char* buf) {
  auto [end, ec] = std::to_chars(buf, buf + 16, n, 16);
  (void)ec;
  end[0] = '\r';
  end[1] = '\n';
  return static_cast<std::size_t>(end + 2 - buf);
}

}  // namespace portico::proxy
