// libFuzzer target for the request head path: parse (Beast's parser, as the connection does),
// check (checkRequestHead), normalize (normalizePath) and write the upstream head
// (appendRequestHead). Properties asserted, beyond "no crash, no sanitizer report":
//   - an accepted head yields exactly one Host line, the first after the request line;
//   - the written head has at most one framing field, derived from the parser's state;
//   - a normalized path starts with '/', has no "//", no "." or ".." segment, and a second
//     normalization changes nothing.
// Run: make fuzz (longer), or a bounded run in make test.

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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  checkNormalized(input.substr(0, input.find('\n')));

  RequestParserOf<http::empty_body> parser;
  parser.header_limit(64 * 1024);
  parser.eager(false);
  error_code ec;
  parser.put(net::buffer(data, size), ec);
  if (ec || !parser.is_header_done()) {
    return 0;
  }
  RequestInfo info;
  std::string path_buf;
  const unsigned status = checkRequestHead(parser.get(), parser.chunked(),
                                           toOptional(parser.content_length()), info, path_buf);
  if (status != 0) {
    check(status == 400 || status == 405 || status == 501 || status == 505);
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
  appendRequestHead(parser.get(), head, out);
  check(out.size() >= 4 && out.substr(out.size() - 4) == "\r\n\r\n");
  check(out.find("\r\n\r\n") == out.size() - 4);  // nothing a peer sent ends the head early
  check(out.find("\r\nHost: ") == out.find("\r\n"));
  check(countLines(out, "Host:") == 1);
  check(countLines(out, "Content-Length:") + countLines(out, "Transfer-Encoding:") <= 1);
  check(countLines(out, "Content-Length:") == (info.content_length ? 1u : 0u));
  return 0;
}
