#include "proxy/http_util.h"

#include "common/strings.h"

#include <array>
#include <charconv>
#include <cstring>

namespace portico::proxy {

namespace {

// Never removed by a Connection nomination: the framing and routing fields, which the writers
// emit themselves, and the forwarding fields the upstream relies on.
bool isProtected(std::string_view name) {
  return iequals(name, "host") || iequals(name, "content-length") ||
         iequals(name, "transfer-encoding") || iequals(name, "x-request-id") ||
         (name.size() > 12 && iequals(name.substr(0, 12), "x-forwarded-"));
}

// Field names listed by Connection; checkRequestHead() bounds a request's count, an upstream's
// past the bound are ignored (they can only remove its own fields).
class ConnectionTokens final {
 public:
  explicit ConnectionTokens(const MessageHead& head) {
    for (const HeadField& f : head) {
      if (f.id != FieldId::kConnection) {
        continue;
      }
      if (count_ == tokens_.size()) {
        break;
      }
      // Called only while there is room: it stops the list once the last slot is taken.
      forEachListElement(f.value, [this](std::string_view token) {
        if (!isProtected(token)) {
          tokens_[count_++] = token;
        }
        return count_ < tokens_.size();
      });
    }
  }
  bool empty() const { return count_ == 0; }
  bool names(std::string_view field) const {
    for (std::size_t i = 0; i < count_; ++i) {
      if (iequals(tokens_[i], field)) {
        return true;
      }
    }
    return false;
  }

 private:
  std::array<std::string_view, kMaxConnectionTokens> tokens_{};
  std::size_t count_ = 0;
};

// Hop-by-hop and framing fields: never copied, in either direction.
bool isDropped(FieldId f) {
  switch (f) {
    case FieldId::kConnection:
    case FieldId::kKeepAlive:
    case FieldId::kProxyConnection:
    case FieldId::kTe:
    case FieldId::kTrailer:
    case FieldId::kTransferEncoding:
    case FieldId::kContentLength:
    case FieldId::kUpgrade:
      return true;
    default:
      return false;
  }
}

// One append per field: the line is assembled on the stack when it fits (almost always), so
// the string checks its capacity once and copies once, instead of four times.
void appendField(std::string& out, std::string_view name, std::string_view value) {
  const std::size_t n = name.size() + value.size() + 4;
  if (n > 512) {
    out.append(name).append(": ").append(value).append("\r\n");
    return;
  }
  char line[512];
  // An empty view may hold a null pointer, which memcpy must not get even for 0 bytes.
  if (!name.empty()) {
    std::memcpy(line, name.data(), name.size());
  }
  line[name.size()] = ':';
  line[name.size() + 1] = ' ';
  if (!value.empty()) {
    std::memcpy(line + name.size() + 2, value.data(), value.size());
  }
  line[n - 2] = '\r';
  line[n - 1] = '\n';
  out.append(line, n);
}

void appendLength(std::string& out, std::uint64_t n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), n);
  (void)ec;
  out.append("Content-Length: ");
  out.append(buf, static_cast<std::size_t>(end - buf));
  out.append("\r\n");
}

void appendEdits(std::string& out, const HeaderEdits* edits) {
  if (edits != nullptr) {
    edits->forEachSet([&](std::string_view n, std::string_view v) { appendField(out, n, v); });
  }
}

}  // namespace

bool HeaderEdits::remove(std::string_view name) {
  if (removes_ == kMax) {
    return false;
  }
  remove_[removes_++] = name;
  return true;
}

std::pair<std::string_view, std::string_view> splitHostPort(std::string_view host) {
  const std::size_t colon = host.rfind(':');
  if (colon == std::string_view::npos || host.find(']', colon) != std::string_view::npos) {
    return {host, {}};
  }
  return {host.substr(0, colon), host.substr(colon + 1)};
}

bool HeaderEdits::set(std::string_view name, std::string_view value) {
  if (sets_ == kMax) {
    return false;
  }
  appended_[sets_] = false;
  set_[sets_++] = {name, value};
  return true;
}

bool HeaderEdits::append(std::string_view name, std::string_view value) {
  if (sets_ == kMax) {
    return false;
  }
  appended_[sets_] = true;
  set_[sets_++] = {name, value};
  return true;
}

bool HeaderEdits::touches(std::string_view name) const {
  for (std::size_t i = 0; i < removes_; ++i) {
    if (iequals(remove_[i], name)) {
      return true;
    }
  }
  for (std::size_t i = 0; i < sets_; ++i) {
    if (!appended_[i] && iequals(set_[i].first, name)) {
      return true;
    }
  }
  return false;
}

std::string httpDate(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  const std::size_t n = std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(buf, n);
}

void appendRequestHead(const MessageHead& req, const UpstreamRequestHead& head, std::string& out) {
  const RequestInfo& info = *head.info;
  out.append(req.method());
  out.push_back(' ');
  std::string_view target = head.target.empty() ? info.origin_target : head.target;
  if (target.empty() || target.front() == '?') {
    out.push_back('/');  // "http://h" and "http://h?q" in origin-form
  }
  out.append(target);
  out.append(" HTTP/1.1\r\n");
  appendField(out, "Host", info.host);
  const ConnectionTokens named(req);
  const bool edited = head.edits != nullptr && !head.edits->empty();
  std::string_view forwarded_for;  // the first X-Forwarded-For; later ones are joined below
  std::string joined_forwarded_for;
  bool has_request_id = false;
  for (const HeadField& f : req) {
    switch (f.id) {
      case FieldId::kHost:
      case FieldId::kExpect:
      case FieldId::kXForwardedProto:
      case FieldId::kXForwardedHost:
      case FieldId::kXForwardedPort:
        continue;
      case FieldId::kXForwardedFor:
        if (forwarded_for.empty() && joined_forwarded_for.empty()) {
          forwarded_for = f.value;
        } else {
          if (joined_forwarded_for.empty()) {
            joined_forwarded_for = forwarded_for;
          }
          joined_forwarded_for.append(", ").append(f.value);
        }
        continue;
      case FieldId::kXRequestId:
        has_request_id = true;
        break;
      default:
        if (isDropped(f.id) || (!named.empty() && named.names(f.name))) {
          continue;
        }
        break;
    }
    if (edited && head.edits->touches(f.name)) {
      continue;
    }
    appendField(out, f.name, f.value);
  }
  out.append("X-Forwarded-For: ");
  if (!joined_forwarded_for.empty()) {
    out.append(joined_forwarded_for).append(", ");
  } else if (!forwarded_for.empty()) {
    out.append(forwarded_for).append(", ");
  }
  out.append(head.client_address).append("\r\n");
  appendField(out, "X-Forwarded-Proto", head.proto);
  appendField(out, "X-Forwarded-Host", info.host);
  appendField(out, "X-Forwarded-Port", head.listener_port);
  if (!has_request_id && !head.request_id.empty()) {
    appendField(out, "X-Request-Id", head.request_id);
  }
  appendEdits(out, head.edits);
  if (info.content_length) {
    appendLength(out, *info.content_length);
  } else if (info.chunked) {
    out.append("Transfer-Encoding: chunked\r\n");
  }
  if (info.upgrade) {
    out.append("Connection: upgrade\r\n");
    appendField(out, "Upgrade", req.value(FieldId::kUpgrade));
  }
  out.append("\r\n");
}

void appendResponseHead(const MessageHead& res, const ClientResponseHead& head, std::string& out) {
  char status[4];
  const unsigned code = res.status();
  status[0] = static_cast<char>('0' + code / 100 % 10);
  status[1] = static_cast<char>('0' + code / 10 % 10);
  status[2] = static_cast<char>('0' + code % 10);
  out.append("HTTP/1.1 ");
  out.append(status, 3);
  out.push_back(' ');
  const std::string_view reason = res.reason();
  if (reason.empty()) {
    const auto standard = http::obsolete_reason(http::int_to_status(code));
    out.append(standard.data(), standard.size());
  } else {
    out.append(reason);
  }
  out.append("\r\n");
  const ConnectionTokens named(res);
  const bool edited = head.edits != nullptr && !head.edits->empty();
  for (const HeadField& f : res) {
    if (isDropped(f.id) || f.id == FieldId::kServer || f.id == FieldId::kDate) {
      continue;
    }
    if ((!named.empty() && named.names(f.name)) || (edited && head.edits->touches(f.name))) {
      continue;
    }
    appendField(out, f.name, f.value);
  }
  out.append("Server: portico\r\n");
  appendField(out, "Date", head.date);
  appendEdits(out, head.edits);
  if (head.content_length) {
    appendLength(out, *head.content_length);
  } else if (head.chunked) {
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

void appendLocalResponse(const LocalResponse& r, std::string_view date, bool keep_alive,
                         bool head_only, std::string& out) {
  char code[4];
  auto [end, ec] = std::to_chars(code, code + sizeof(code), r.status % 1000);
  (void)ec;
  const std::string_view code_text(code, static_cast<std::size_t>(end - code));
  const auto standard = http::obsolete_reason(http::int_to_status(r.status));
  const std::string_view reason(standard.data(), standard.size());
  out.append("HTTP/1.1 ").append(code_text).append(" ").append(reason).append("\r\n");
  out.append("Server: portico\r\n");
  appendField(out, "Date", date);
  appendField(out, "Content-Type", r.content_type);
  appendEdits(out, r.headers);
  const std::size_t body_size =
      r.body.empty() ? code_text.size() + 1 + reason.size() + 1 : r.body.size();
  appendLength(out, head_only ? 0 : body_size);
  out.append(keep_alive ? "" : "Connection: close\r\n");
  out.append("\r\n");
  if (head_only) {
    return;
  }
  if (r.body.empty()) {
    out.append(code_text).append(" ").append(reason).append("\n");
  } else {
    out.append(r.body);
  }
}

std::size_t chunkPrefix(std::size_t n, char* buf) {
  auto [end, ec] = std::to_chars(buf, buf + 16, n, 16);
  (void)ec;
  end[0] = '\r';
  end[1] = '\n';
  return static_cast<std::size_t>(end + 2 - buf);
}

const char* responseHeadProblem(const MessageHead& res) {
  if (res.version() < 10 || res.version() >= 20) {
    return "not an HTTP/1 response";
  }
  bool te = false;
  for (const HeadField& f : res) {
    if (f.id != FieldId::kTransferEncoding) {
      continue;
    }
    te = true;
    if (!forEachListElement(f.value,
                            [](std::string_view coding) { return iequals(coding, "chunked"); })) {
      return "unknown transfer coding";
    }
  }
  if (te && res.has(FieldId::kContentLength)) {
    return "Transfer-Encoding with Content-Length";
  }
  return nullptr;
}

}  // namespace portico::proxy
