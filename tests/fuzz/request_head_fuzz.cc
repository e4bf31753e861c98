// libFuzzer target for the request head path: parse (H1Parser, as the connection does),
// check (checkRequestHead), normalize (normalizePath) and write the upstream head
// (appendRequestHead). Properties asserted, beyond "no crash, no sanitizer report":
//   - an accepted head yields exactly one Host line, the first after the request line;
//   - the written head has at most one framing field, derived from the parser's state;
//   - a normalized path starts with '/', has no "//", no "." or ".." segment, and a second
//     normalization changes nothing;
//   - the input fed one byte at a time parses as it does whole;
//   - the body after the head is decoded in steps that each consume or end, within the buffer.
// Run: make fuzz (longer), or a bounded run in make test.

#include "proxy/h1_parser.h"
#include "proxy/http_util.h"
#include "proxy/net.h"
#include "proxy/request_head.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

using namespace portico::proxy;  // NOLINT

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

std::size_t countLines(std::string_view head, std::string_view prefix) {
  std::size_t n = 0;
  for (std::size_t at = head.find("\r\n"); at != std::string_view::npos;
       at = head.find("\r\n", at + 2)) {
    if (head.substr(at + 2, prefix.size()) == prefix) {
      ++n;
    }
  }
  return n;
}

void checkNormalized(std::string_view path) {
  std::string out;
  bool changed = false;
  if (!normalizePath(path, out, &changed)) {
    return;
  }
  const std::string_view p = changed ? std::string_view(out) : path;
  if (path.empty() || path.front() != '/') {
    return;
  }
  check(!p.empty() && p.front() == '/');
  check(p.find("//") == std::string_view::npos);
  check(p.find("/./") == std::string_view::npos && p.find("/../") == std::string_view::npos);
  check(!(p.size() >= 2 && p.substr(p.size() - 2) == "/.") &&
        !(p.size() >= 3 && p.substr(p.size() - 3) == "/.."));
  std::string again;
  bool changed_again = false;
  check(normalizePath(p, again, &changed_again));
  check(!changed_again);
}

// The same bytes fed one at a time (as a slow client sends them) give the same head, or the
// same error: what a message means never depends on where the network cut it.
void checkSplitAgrees(std::string_view input, error_code whole_ec, std::size_t whole_used,
                      const H1Parser& whole) {
  H1Parser p(H1Parser::Kind::kRequest);
  p.headerLimit(64 * 1024);
  error_code ec = http::error::need_more;
  std::size_t used = 0;
  for (std::size_t n = 1; n <= input.size() && ec == http::error::need_more; ++n) {
    used = p.put(input.substr(0, n), ec);
  }
  check(ec == whole_ec);
  if (ec) {
    return;
  }
  check(used == whole_used);
  check(p.head().target() == whole.head().target());
  check(p.head().fields().size() == whole.head().fields().size());
  check(p.chunked() == whole.chunked() && p.contentLength() == whole.contentLength());
}

// Parses what follows the head as its body, in small pieces: each step consumes or ends, and
// never writes past the body buffer.
void drainBody(H1Parser& p, std::string_view rest) {
  char buf[5];
  for (int steps = 0; !p.done() && steps < 1 << 16; ++steps) {
    p.body().data = buf;
    p.body().size = sizeof(buf);
    error_code ec;
    const std::size_t used = p.put(rest, ec);
    check(used <= rest.size());
    check(p.body().size <= sizeof(buf));
    rest.remove_prefix(used);
    if (ec == http::error::need_buffer) {
      continue;
    }
    if (ec) {
      return;  // need_more at the end of the input, or an error
    }
    check(used > 0 || p.done());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  checkNormalized(input.substr(0, input.find('\n')));

  H1Parser parser(H1Parser::Kind::kRequest);
  parser.headerLimit(64 * 1024);
  error_code ec;
  const std::size_t used = parser.put(input, ec);
  checkSplitAgrees(input, ec, used, parser);
  if (ec || !parser.headDone()) {
    return 0;
  }
  RequestInfo info;
  std::string path_buf;
  const unsigned status =
      checkRequestHead(parser.head(), parser.chunked(), parser.contentLength(), info, path_buf);
  if (status != 0) {
    check(status == 400 || status == 405 || status == 501 || status == 505);
    drainBody(parser, input.substr(used));
    return 0;
  }
  check(isValidHost(info.host));
  check(!info.path.empty());
  check(!(info.chunked && info.content_length));
  UpstreamRequestHead head;
  head.info = &info;
  head.client_address = "192.0.2.1";
  head.listener_port = "8080";
  head.request_id = "0123456789abcdef0123456789abcdef";
  std::string out;
  appendRequestHead(parser.head(), head, out);
  check(out.size() >= 4 && out.substr(out.size() - 4) == "\r\n\r\n");
  check(out.find("\r\n\r\n") == out.size() - 4);  // nothing a peer sent ends the head early
  check(out.find("\r\nHost: ") == out.find("\r\n"));
  check(countLines(out, "Host:") == 1);
  check(countLines(out, "Content-Length:") + countLines(out, "Transfer-Encoding:") <= 1);
  check(countLines(out, "Content-Length:") == (info.content_length ? 1u : 0u));
  drainBody(parser, input.substr(used));
  return 0;
}
