#include "proxy/h1_parser.h"

#include "common/strings.h"

#include <array>
#include <cstring>

namespace portico::proxy {

namespace {

namespace http = boost::beast::http;
using error_code = boost::system::error_code;

// A chunk-size line (size and extensions) longer than this is refused: a peer that never ends
// it must not make the buffer grow.
constexpr std::size_t kMaxChunkLine = 4096;
constexpr std::size_t kMaxChunkDigits = 16;

// Byte classes, one table lookup per byte: tchar (RFC 9110 5.6.2); field-value bytes (VCHAR,
// SP, HTAB, obs-text: RFC 9110 5.5); request-target bytes (anything visible, obs-text too,
// as Beast and nginx take it; the target's grammar is checked by checkRequestHead()).
enum : std::uint8_t { kToken = 1, kValue = 2, kTarget = 4 };

constexpr std::array<std::uint8_t, 256> makeClasses() {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    std::uint8_t v = 0;
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (alnum) {
      v |= kToken;
    }
    for (const char s : std::string_view("!#$%&'*+-.^_`|~")) {
      if (c == static_cast<unsigned char>(s)) {
        v |= kToken;
      }
    }
    if (c == '\t' || (c >= 0x20 && c != 0x7f)) {
      v |= kValue;
    }
    if (c > 0x20 && c != 0x7f) {
      v |= kTarget;
    }
    t[static_cast<std::size_t>(c)] = v;
  }
  return t;
}
constexpr std::array<std::uint8_t, 256> kClasses = makeClasses();

bool all(std::string_view s, std::uint8_t cls) {
  for (const char c : s) {
    if ((kClasses[static_cast<unsigned char>(c)] & cls) == 0) {
      return false;
    }
  }
  return true;
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isOws(char c) { return c == ' ' || c == '\t'; }

int hexValue(char c) {
  if (isDigit(c)) {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// `name` equals `lower` (lower-case ASCII) ignoring case.
bool equalsLower(std::string_view name, std::string_view lower) {
  if (name.size() != lower.size()) {
    return false;
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c + ('a' - 'A'));
    }
    if (c != lower[i]) {
      return false;
    }
  }
  return true;
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && isOws(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && isOws(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

// "HTTP/d.d" as major * 10 + minor, or 0.
unsigned parseVersion(std::string_view v) {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || !isDigit(v[5]) || v[6] != '.' ||
      !isDigit(v[7])) {
    return 0;
  }
  return static_cast<unsigned>(v[5] - '0') * 10 + static_cast<unsigned>(v[7] - '0');
}

// A field line as the grammar has it, for trailers (which are checked, then dropped).
bool isFieldLine(std::string_view line) {
  const std::size_t colon = line.find(':');
  return colon != 0 && colon != std::string_view::npos && all(line.substr(0, colon), kToken) &&
         all(line.substr(colon + 1), kValue);
}

}  // namespace

FieldId fieldId(std::string_view n) {
  switch (n.size()) {
    case 2:
      return equalsLower(n, "te") ? FieldId::kTe : FieldId::kOther;
    case 4:
      return equalsLower(n, "host")   ? FieldId::kHost
             : equalsLower(n, "date") ? FieldId::kDate
                                      : FieldId::kOther;
    case 6:
      return equalsLower(n, "server")   ? FieldId::kServer
             : equalsLower(n, "expect") ? FieldId::kExpect
                                        : FieldId::kOther;
    case 7:
      return equalsLower(n, "upgrade")   ? FieldId::kUpgrade
             : equalsLower(n, "trailer") ? FieldId::kTrailer
                                         : FieldId::kOther;
    case 10:
      return equalsLower(n, "connection")   ? FieldId::kConnection
             : equalsLower(n, "keep-alive") ? FieldId::kKeepAlive
                                            : FieldId::kOther;
    case 12:
      return equalsLower(n, "x-request-id") ? FieldId::kXRequestId : FieldId::kOther;
    case 14:
      return equalsLower(n, "content-length") ? FieldId::kContentLength : FieldId::kOther;
    case 15:
      return equalsLower(n, "x-forwarded-for") ? FieldId::kXForwardedFor : FieldId::kOther;
    case 16:
      return equalsLower(n, "x-forwarded-host")   ? FieldId::kXForwardedHost
             : equalsLower(n, "x-forwarded-port") ? FieldId::kXForwardedPort
             : equalsLower(n, "proxy-connection") ? FieldId::kProxyConnection
                                                  : FieldId::kOther;
    case 17:
      return equalsLower(n, "transfer-encoding")   ? FieldId::kTransferEncoding
             : equalsLower(n, "x-forwarded-proto") ? FieldId::kXForwardedProto
                                                   : FieldId::kOther;
    default:
      return FieldId::kOther;
  }
}

// ---- MessageHead --------------------------------------------------------------------------

std::size_t MessageHead::count(FieldId id) const {
  std::size_t n = 0;
  for (const HeadField& f : fields_) {
    n += f.id == id ? 1 : 0;
  }
  return n;
}

std::string_view MessageHead::value(FieldId id) const {
  for (const HeadField& f : fields_) {
    if (f.id == id) {
      return f.value;
    }
  }
  return {};
}

void MessageHead::clear() {
  bytes_.clear();
  fields_.clear();
  method_ = target_ = reason_ = {};
  version_ = status_ = 0;
}

// ---- H1Parser -----------------------------------------------------------------------------

void H1Parser::reset() {
  state_ = State::kHead;
  framing_ = Framing::kNone;
  skip_body_ = got_some_ = first_line_done_ = false;
  close_token_ = keep_alive_token_ = te_present_ = te_chunked_last_ = length_seen_ = false;
  header_limit_ = 8192;
  body_limit_ = ~std::uint64_t{0};
  body_seen_ = remaining_ = content_length_ = 0;
  scanned_ = line_start_ = trailer_bytes_ = 0;
  body_ = {};
  head_.clear();
}

std::optional<std::uint64_t> H1Parser::contentLength() const {
  const unsigned status = head_.status_;
  if (!length_seen_ || te_present_ ||
      (kind_ == Kind::kResponse && (status < 200 || status == 204))) {
    return std::nullopt;  // no length, overridden, or one these responses must not carry
  }
  return content_length_;
}

bool H1Parser::keepAlive() const {
  if (framing_ == Framing::kToEof || close_token_) {
    return false;
  }
  return head_.version_ >= 11 || keep_alive_token_;
}

std::size_t H1Parser::put(std::string_view in, error_code& ec) {
  ec = {};
  if (state_ == State::kHead) {
    return putHead(in, ec);
  }
  return putBody(in, ec);
}

void H1Parser::putEof(error_code& ec) {
  ec = {};
  if (state_ == State::kToEof || state_ == State::kDone) {
    state_ = State::kDone;
    return;
  }
  ec = got_some_ ? http::error::partial_message : http::error::end_of_stream;
}

// The head is parsed once it is whole. Each call searches only the bytes it has not searched
// before (the caller keeps an unfinished head buffered and passes it again with more).
std::size_t H1Parser::putHead(std::string_view in, error_code& ec) {
  got_some_ = got_some_ || !in.empty();
  const char* p = in.data();
  const std::size_t n = in.size();
  std::size_t pos = scanned_;
  while (pos < n) {
    const void* lf = std::memchr(p + pos, '\n', n - pos);
    if (lf == nullptr) {
      break;
    }
    const auto i = static_cast<std::size_t>(static_cast<const char*>(lf) - p);
    if (i + 1 > header_limit_) {
      ec = http::error::header_limit;
      return 0;
    }
    if (i == line_start_ || p[i - 1] != '\r') {
      ec = http::error::bad_line_ending;  // a bare LF
      return 0;
    }
    if (i == line_start_ + 1) {
      if (line_start_ == 0) {
        ec = kind_ == Kind::kRequest ? http::error::bad_method : http::error::bad_version;
        return 0;
      }
      ec = parseHead(in.substr(0, i + 1));
      if (ec) {
        return 0;
      }
      return i + 1;
    }
    first_line_done_ = true;
    line_start_ = i + 1;
    pos = i + 1;
  }
  scanned_ = n;
  if (n >= header_limit_) {
    ec = http::error::header_limit;
    return 0;
  }
  ec = http::error::need_more;
  return 0;
}

error_code H1Parser::parseHead(std::string_view whole) {
  head_.bytes_.assign(whole.data(), whole.size());
  std::string_view rest(head_.bytes_);
  bool first = true;
  while (true) {
    const std::size_t eol = rest.find("\r\n");
    const std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol + 2);
    if (line.empty()) {
      break;  // the end of the head (putHead found it; nothing follows)
    }
    const error_code ec = first ? parseStartLine(line) : parseField(line);
    if (ec) {
      return ec;
    }
    first = false;
  }
  return decideFraming();
}

error_code H1Parser::parseStartLine(std::string_view line) {
  if (kind_ == Kind::kRequest) {
    // method SP request-target SP HTTP-version (RFC 9112 3)
    const std::size_t sp1 = line.find(' ');
    if (sp1 == 0 || sp1 == std::string_view::npos || !all(line.substr(0, sp1), kToken)) {
      return http::error::bad_method;
    }
    const std::string_view after = line.substr(sp1 + 1);
    const std::size_t sp2 = after.find(' ');
    if (sp2 == 0 || sp2 == std::string_view::npos || !all(after.substr(0, sp2), kTarget)) {
      return http::error::bad_target;
    }
    head_.version_ = parseVersion(after.substr(sp2 + 1));
    if (head_.version_ == 0) {
      return http::error::bad_version;
    }
    head_.method_ = line.substr(0, sp1);
    head_.target_ = after.substr(0, sp2);
    return {};
  }
  // HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 4); the second SP may be
  // missing when the reason is, as many servers send it.
  head_.version_ = parseVersion(line.substr(0, 8));
  if (head_.version_ == 0 || line.size() < 12 || line[8] != ' ') {
    return http::error::bad_version;
  }
  if (line[9] < '1' || line[9] > '9' || !isDigit(line[10]) || !isDigit(line[11])) {
    return http::error::bad_status;
  }
  head_.status_ = static_cast<unsigned>(line[9] - '0') * 100 +
                  static_cast<unsigned>(line[10] - '0') * 10 +
                  static_cast<unsigned>(line[11] - '0');
  if (line.size() > 12) {
    if (line[12] != ' ' || !all(line.substr(13), kValue)) {
      return http::error::bad_reason;
    }
    head_.reason_ = line.substr(13);
  }
  return {};
}

error_code H1Parser::parseField(std::string_view line) {
  if (isOws(line.front())) {
    return http::error::bad_obs_fold;  // RFC 9112 5.2: a proxy rejects or unfolds; we reject
  }
  const std::size_t colon = line.find(':');
  if (colon == 0 || colon == std::string_view::npos || !all(line.substr(0, colon), kToken)) {
    return http::error::bad_field;  // no name, or whitespace or a separator in it
  }
  const std::string_view raw = line.substr(colon + 1);
  if (!all(raw, kValue)) {
    return http::error::bad_value;
  }
  HeadField f{line.substr(0, colon), trimOws(raw), fieldId(line.substr(0, colon))};
  switch (f.id) {
    case FieldId::kContentLength: {
      if (length_seen_ || f.value.empty()) {
        return http::error::bad_content_length;  // a second one, equal or not
      }
      length_seen_ = true;
      std::uint64_t v = 0;
      for (const char c : f.value) {
        if (!isDigit(c)) {
          return http::error::bad_content_length;
        }
        const auto d = static_cast<std::uint64_t>(c - '0');
        if (v > (~std::uint64_t{0} - d) / 10) {
          return http::error::bad_content_length;  // does not fit in 64 bits
        }
        v = v * 10 + d;
      }
      content_length_ = v;
      break;
    }
    case FieldId::kTransferEncoding:
      te_present_ = true;
      forEachListElement(f.value, [&](std::string_view coding) {
        te_chunked_last_ = equalsLower(coding, "chunked");
        return true;
      });
      break;
    case FieldId::kConnection:
      forEachListElement(f.value, [&](std::string_view token) {
        close_token_ = close_token_ || equalsLower(token, "close");
        keep_alive_token_ = keep_alive_token_ || equalsLower(token, "keep-alive");
        return true;
      });
      break;
    default:
      break;
  }
  head_.fields_.push_back(f);
  return {};
}

// RFC 9112 6.3, in its order.
error_code H1Parser::decideFraming() {
  const unsigned status = head_.status_;
  if (kind_ == Kind::kResponse && (skip_body_ || status < 200 || status == 204 || status == 304)) {
    framing_ = Framing::kNone;
  } else if (te_present_) {
    // A request whose coding does not end in chunked has no framing we may guess: it gets
    // none here and a 400 from checkRequestHead(). A response's runs to the end of the stream.
    framing_ = te_chunked_last_           ? Framing::kChunked
               : kind_ == Kind::kResponse ? Framing::kToEof
                                          : Framing::kNone;
  } else if (length_seen_) {
    framing_ = Framing::kLength;
  } else {
    framing_ = kind_ == Kind::kResponse ? Framing::kToEof : Framing::kNone;
  }
  switch (framing_) {
    case Framing::kNone:
      state_ = State::kDone;
      break;
    case Framing::kLength:
      if (content_length_ > body_limit_) {
        return http::error::body_limit;
      }
      remaining_ = content_length_;
      state_ = remaining_ == 0 ? State::kDone : State::kLength;
      break;
    case Framing::kChunked:
      state_ = State::kChunkSize;
      break;
    case Framing::kToEof:
      state_ = State::kToEof;
      break;
  }
  return {};
}

std::size_t H1Parser::copyBody(const char* p, std::size_t n) {
  std::memcpy(body_.data, p, n);
  body_.data += n;
  body_.size -= n;
  return n;
}

// As much body as the input and the body buffer allow, across chunk boundaries. An error is
// reported only once the body bytes decoded before it have been handed over: a step that
// decoded some ends there, unchanged at the bad bytes, and the next step reports the error
// (as Beast's parser did, one body step at a time). No state changes at an error.
std::size_t H1Parser::putBody(std::string_view in, error_code& ec) {
  const char* p = in.data();
  const std::size_t n = in.size();
  const std::size_t room = body_.size;
  std::size_t used = 0;
  const auto fail = [&](http::error e) {
    if (body_.size == room) {
      ec = e;
    }
    return used;
  };
  while (state_ != State::kDone && used < n) {
    switch (state_) {
      case State::kLength:
      case State::kChunkData:
      case State::kToEof: {
        if (body_.size == 0) {
          ec = http::error::need_buffer;
          return used;
        }
        std::size_t k = std::min(n - used, body_.size);
        if (state_ != State::kToEof) {
          k = static_cast<std::size_t>(std::min<std::uint64_t>(k, remaining_));
          remaining_ -= k;
        } else {
          if (body_seen_ + k > body_limit_) {
            return fail(http::error::body_limit);
          }
          body_seen_ += k;
        }
        used += copyBody(p + used, k);
        if (remaining_ == 0 && state_ == State::kLength) {
          state_ = State::kDone;
        } else if (remaining_ == 0 && state_ == State::kChunkData) {
          state_ = State::kChunkDataEnd;
        }
        break;
      }
      case State::kChunkDataEnd:
        if (n - used < 2) {
          goto out;
        }
        if (p[used] != '\r' || p[used + 1] != '\n') {
          return fail(http::error::bad_chunk);
        }
        used += 2;
        state_ = State::kChunkSize;
        break;
      case State::kChunkSize: {
        // chunk-size [ chunk-ext ] CRLF (RFC 9112 7.1)
        const std::string_view avail(p + used, std::min(n - used, kMaxChunkLine));
        const std::size_t lf = avail.find('\n');
        if (lf == std::string_view::npos) {
          if (avail.size() == kMaxChunkLine) {
            return fail(http::error::bad_chunk);
          }
          goto out;
        }
        if (lf == 0 || avail[lf - 1] != '\r') {
          return fail(http::error::bad_chunk);
        }
        const std::string_view line = avail.substr(0, lf - 1);
        std::size_t i = 0;
        std::uint64_t size = 0;
        while (i < line.size() && i <= kMaxChunkDigits && hexValue(line[i]) >= 0) {
          size = size * 16 + static_cast<std::uint64_t>(hexValue(line[i]));
          ++i;
        }
        if (i == 0 || i > kMaxChunkDigits) {
          return fail(http::error::bad_chunk);
        }
        std::string_view ext = line.substr(i);
        while (!ext.empty() && isOws(ext.front())) {
          ext.remove_prefix(1);
        }
        if (!ext.empty() && (ext.front() != ';' || !all(ext, kValue))) {
          return fail(http::error::bad_chunk_extension);
        }
        if (size > body_limit_ - std::min(body_limit_, body_seen_)) {
          return fail(http::error::body_limit);
        }
        used += lf + 1;
        if (size == 0) {
          state_ = State::kTrailers;
          break;
        }
        body_seen_ += size;
        remaining_ = size;
        state_ = State::kChunkData;
        break;
      }
      case State::kTrailers: {
        // *( field-line CRLF ) CRLF: checked, bounded by the header limit, then dropped.
        const std::string_view avail(p + used, n - used);
        const std::size_t lf = avail.find('\n');
        if (lf == std::string_view::npos) {
          if (trailer_bytes_ + avail.size() >= header_limit_) {
            return fail(http::error::header_limit);
          }
          goto out;
        }
        if (trailer_bytes_ + lf + 1 > header_limit_) {
          return fail(http::error::header_limit);
        }
        if (lf == 0 || avail[lf - 1] != '\r') {
          return fail(http::error::bad_line_ending);
        }
        const std::string_view line = avail.substr(0, lf - 1);
        if (!line.empty() && (isOws(line.front()) || !isFieldLine(line))) {
          return fail(http::error::bad_field);
        }
        trailer_bytes_ += lf + 1;
        used += lf + 1;
        if (line.empty()) {
          state_ = State::kDone;
        }
        break;
      }
      case State::kHead:
      case State::kDone:
        break;
    }
  }
out:
  if (used == 0 && state_ != State::kDone) {
    ec = http::error::need_more;
  }
  return used;
}

}  // namespace portico::proxy
