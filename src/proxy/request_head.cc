#include "proxy/request_head.h"

#include "common/strings.h"

namespace portico::proxy {

namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isHex(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// RFC 9110 5.6.2 tchar.
bool isTokenChar(char c) {
  if (isAlpha(c) || isDigit(c)) {
    return true;
  }
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool isToken(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (const char c : s) {
    if (!isTokenChar(c)) {
      return false;
    }
  }
  return true;
}

// RFC 3986 reg-name: unreserved / pct-encoded / sub-delims.
bool isRegName(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (isAlpha(c) || isDigit(c)) {
      continue;
    }
    switch (c) {
      case '-':
      case '.':
      case '_':
      case '~':
      case '!':
      case '$':
      case '&':
      case '\'':
      case '(':
      case ')':
      case '*':
      case '+':
      case ',':
      case ';':
      case '=':
        continue;
      case '%':
        if (i + 2 < s.size() && isHex(s[i + 1]) && isHex(s[i + 2])) {
          i += 2;
          continue;
        }
        return false;
      default:
        return false;
    }
  }
  return true;
}

bool isPort(std::string_view s) {
  if (s.size() > 5) {
    return false;
  }
  for (const char c : s) {
    if (!isDigit(c)) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool isValidHost(std::string_view host) {
  if (host.empty()) {
    return true;
  }
  std::string_view port;
  if (host.front() == '[') {
    const std::size_t close = host.find(']');
    if (close == std::string_view::npos || close < 3) {
      return false;
    }
    const std::string_view literal = host.substr(1, close - 1);
    bool colon = false;
    for (const char c : literal) {
      if (c == ':') {
        colon = true;
      } else if (!isHex(c) && c != '.') {
        return false;
      }
    }
    if (!colon) {
      return false;
    }
    const std::string_view rest = host.substr(close + 1);
    if (rest.empty()) {
      return true;
    }
    if (rest.front() != ':') {
      return false;
    }
    return isPort(rest.substr(1));
  }
  std::string_view name = host;
  if (const std::size_t colon = host.find(':'); colon != std::string_view::npos) {
    name = host.substr(0, colon);
    port = host.substr(colon + 1);
    if (!isPort(port)) {
      return false;  // also a second ':' (an IPv6 literal without brackets)
    }
  }
  return !name.empty() && isRegName(name);
}

bool normalizePath(std::string_view path, std::string& out, bool* changed) {
  *changed = false;
  if (path.empty() || path.front() != '/') {
    return true;  // "*" (OPTIONS): nothing to resolve
  }
  bool needed = false;
  for (std::size_t i = 0; i + 1 < path.size(); ++i) {
    if (path[i] == '/' && (path[i + 1] == '/' || path[i + 1] == '.' || path[i + 1] == '%')) {
      needed = true;
      break;
    }
    if (path[i] == '%' && i + 2 < path.size() && path[i + 1] == '2' &&
        (path[i + 2] == 'e' || path[i + 2] == 'E')) {
      needed = true;
      break;
    }
  }
  if (!needed) {
    return true;
  }
  out.clear();
  std::string segment;
  std::size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') {
      ++i;  // "//" is one separator, as nginx's merge_slashes
    }
    if (i == path.size()) {
      out.push_back('/');
      break;
    }
    const std::size_t end = std::min(path.find('/', i), path.size());
    segment.clear();
    for (std::size_t k = i; k < end; ++k) {
      if (path[k] == '%' && k + 2 < end && path[k + 1] == '2' &&
          (path[k + 2] == 'e' || path[k + 2] == 'E')) {
        segment.push_back('.');
        k += 2;
      } else {
        segment.push_back(path[k]);
      }
    }
    const bool last = end == path.size();
    i = end;
    if (segment == ".") {
      if (last) {
        out.push_back('/');
      }
      continue;
    }
    if (segment == "..") {
      if (out.empty()) {
        return false;  // above the root
      }
      out.erase(out.rfind('/'));
      if (last) {
        out.push_back('/');
      }
      continue;
    }
    out.push_back('/');
    out.append(segment);
  }
  if (out.empty()) {
    out.push_back('/');
  }
  *changed = out != path;
  return true;
}

bool isIdempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" ||
         method == "PUT" || method == "DELETE";
}

unsigned checkRequestHead(const MessageHead& req, bool chunked,
                          std::optional<std::uint64_t> content_length, RequestInfo& info,
                          std::string& path_buf) {
  info = RequestInfo{};
  const unsigned version = req.version();
  if (version < 10) {
    return 400;
  }
  if (version >= 20) {
    return 505;  // HTTP/2 and later are not spoken on this listener
  }
  info.version = version >= 11 ? 11 : 10;
  info.chunked = chunked;
  info.content_length = content_length;
  if (req.method() == "CONNECT") {
    return 405;  // an ingress is not a forward proxy
  }

  // The target: origin-form, absolute-form (http or https), or "*" for OPTIONS.
  const std::string_view target = req.target();
  std::string_view authority;
  if (target.find('#') != std::string_view::npos) {
    return 400;  // a fragment is never part of a request-target (RFC 9112 3.2)
  }
  if (!target.empty() && target.front() == '/') {
    info.origin_target = target;
  } else if (target == "*" && req.method() == "OPTIONS") {
    info.origin_target = target;
  } else {
    std::string_view rest;
    if (target.size() > 7 && iequals(target.substr(0, 7), "http://")) {
      rest = target.substr(7);
    } else if (target.size() > 8 && iequals(target.substr(0, 8), "https://")) {
      rest = target.substr(8);
    } else {
      return 400;
    }
    const std::size_t auth_end = rest.find_first_of("/?");
    authority = rest.substr(0, auth_end);
    if (authority.empty() || authority.find('@') != std::string_view::npos ||
        !isValidHost(authority)) {
      return 400;  // no host, or userinfo (RFC 9110 4.2.4: must not be sent)
    }
    info.absolute_form = true;
    info.origin_target =
        auth_end == std::string_view::npos ? std::string_view() : rest.substr(auth_end);
  }
  std::string_view raw_path = info.origin_target;
  if (const std::size_t q = raw_path.find('?'); q != std::string_view::npos) {
    raw_path = raw_path.substr(0, q);
  }
  if (raw_path.empty()) {
    raw_path = "/";  // "http://h" and "http://h?q" name the root
  }
  bool changed = false;
  if (!normalizePath(raw_path, path_buf, &changed)) {
    return 400;
  }
  info.path = changed ? std::string_view(path_buf) : raw_path;

  // Host: exactly one, valid; an absolute-form authority overrides it (RFC 9112 3.2.2).
  std::size_t hosts = 0;
  std::string_view host_value;
  for (const HeadField& f : req) {
    if (f.id == FieldId::kHost) {
      ++hosts;
      host_value = f.value;
    }
  }
  if (hosts > 1 || (hosts == 0 && info.version >= 11) || !isValidHost(host_value)) {
    return 400;
  }
  info.host = info.absolute_form ? authority : host_value;

  // Framing (RFC 9112 6.1, 6.3): chunked, alone and last, never with Content-Length.
  std::size_t te_fields = 0;
  bool te_ok = true;
  bool unknown_coding = false;
  std::size_t codings = 0;
  bool last_chunked = false;
  for (const HeadField& f : req) {
    if (f.id != FieldId::kTransferEncoding) {
      continue;
    }
    ++te_fields;
    forEachListElement(f.value, [&](std::string_view coding) {
      ++codings;
      if (last_chunked) {
        te_ok = false;  // chunked applied before another coding, or twice
      }
      last_chunked = iequals(coding, "chunked");
      if (!last_chunked) {
        if (!isToken(coding)) {
          te_ok = false;  // parameters or garbage
        }
        unknown_coding = true;
      }
      return true;
    });
  }
  if (te_fields > 0) {
    const bool has_length = req.has(FieldId::kContentLength);
    if (has_length || info.version < 11 || !te_ok || codings == 0 || !last_chunked || !chunked) {
      return 400;
    }
    if (unknown_coding) {
      return 501;  // "gzip, chunked": a coding we would otherwise have to drop or decode
    }
  }

  // Connection: bounded, tokens only.
  std::size_t tokens = 0;
  bool upgrade_token = false;
  bool close_token = false;
  bool keep_alive_token = false;
  bool connection_ok = true;
  for (const HeadField& f : req) {
    if (f.id != FieldId::kConnection) {
      continue;
    }
    forEachListElement(f.value, [&](std::string_view token) {
      if (++tokens > kMaxConnectionTokens || !isToken(token)) {
        connection_ok = false;
        return false;
      }
      upgrade_token = upgrade_token || iequals(token, "upgrade");
      close_token = close_token || iequals(token, "close");
      keep_alive_token = keep_alive_token || iequals(token, "keep-alive");
      return true;
    });
    if (!connection_ok) {
      return 400;
    }
  }
  // RFC 9112 9.3: 1.1 persists unless "close"; 1.0 only with "keep-alive".
  info.keep_alive = !close_token && (info.version >= 11 || keep_alive_token);
  info.upgrade = upgrade_token && info.version >= 11 && req.has(FieldId::kUpgrade);
  if (info.version >= 11 && req.has(FieldId::kExpect)) {
    info.expect_continue = iequals(req.value(FieldId::kExpect), "100-continue");
  }
  return 0;
}

}  // namespace portico::proxy
