#include "proxy/http_util.h"
#include "proxy/proxy_error.h"
#include "proxy/request_head.h"

#include <gtest/gtest.h>

namespace portico::proxy {
namespace {

// A head as the parser makes it from `raw`.
struct Parsed {
  Parsed(H1Parser::Kind kind, const std::string& raw) : parser(kind) {
    parser.headerLimit(64 * 1024);
    error_code ec;
    parser.put(raw, ec);
    EXPECT_FALSE(ec) << raw.substr(0, 100) << ": " << ec.message();
    EXPECT_TRUE(parser.headDone());
  }
  const MessageHead& head() const { return parser.head(); }
  H1Parser parser;
};

TEST(HttpUtil, RequestHeadDropsHopByHopAndAddsForwarding) {
  const Parsed req(H1Parser::Kind::kRequest,
                   "POST /a?b=1 HTTP/1.0\r\n"
                   "Host: h.test\r\n"
                   "Connection: keep-alive, X-Secret\r\n"
                   "connection: Upgrade\r\n"
                   "X-Secret: 1\r\n"
                   "Keep-Alive: timeout=5\r\n"
                   "Proxy-Connection: keep-alive\r\n"
                   "TE: trailers\r\n"
                   "Trailer: X\r\n"
                   "Transfer-Encoding: chunked\r\n"
                   "Upgrade: websocket\r\n"
                   "Expect: 100-continue\r\n"
                   "X-Forwarded-For: 1.1.1.1\r\n"
                   "x-forwarded-for: 2.2.2.2\r\n"
                   "X-Forwarded-Proto: https\r\n"
                   "X-Keep: yes\r\n"
                   "\r\n");
  RequestInfo info;
  info.host = "h.test";
  info.origin_target = "/a?b=1";
  info.chunked = true;
  UpstreamRequestHead head;
  head.info = &info;
  head.client_address = "127.0.0.1";
  head.listener_port = "8080";
  head.request_id = "id1";
  std::string out;
  appendRequestHead(req.head(), head, out);
  EXPECT_EQ(out,
            "POST /a?b=1 HTTP/1.1\r\n"
            "Host: h.test\r\n"
            "X-Keep: yes\r\n"
            "X-Forwarded-For: 1.1.1.1, 2.2.2.2, 127.0.0.1\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: h.test\r\n"
            "X-Forwarded-Port: 8080\r\n"
            "X-Request-Id: id1\r\n"
            "Transfer-Encoding: chunked\r\n"
            "\r\n");
}

// Fields are copied whole whatever their length: lines that fit the writer's 512-byte line
// buffer exactly, one byte over it, and far over it (a large cookie).
TEST(HttpUtil, LongFieldsAreCopiedWhole) {
  for (std::size_t value_size :
       {std::size_t{0}, std::size_t{502}, std::size_t{503}, std::size_t{16000}}) {
    SCOPED_TRACE(value_size);
    const std::string value(value_size, 'v');  // "X-Long: " + value + CRLF: 10 + size bytes
    const Parsed res(H1Parser::Kind::kResponse,
                     "HTTP/1.1 200 OK\r\nX-Long: " + value + "\r\nX-After: 1\r\n\r\n");
    ClientResponseHead head;
    head.date = "D";
    std::string out;
    appendResponseHead(res.head(), head, out);
    const std::string line = "\r\nX-Long: " + value + "\r\nX-After: 1\r\n";
    EXPECT_NE(out.find(line), std::string::npos) << out.substr(0, 200);
  }
}

TEST(HttpUtil, RequestHeadKeepsRequestIdAndTunnels) {
  const Parsed req(
      H1Parser::Kind::kRequest,
      "GET /ws HTTP/1.1\r\nHost: h\r\nX-Request-Id: abc\r\nUpgrade: websocket\r\n\r\n");
  RequestInfo info;
  info.host = "h";
  info.origin_target = "/ws";
  info.upgrade = true;
  UpstreamRequestHead head;
  head.info = &info;
  head.client_address = "::1";
  head.listener_port = "80";
  head.request_id = "unused";
  std::string out;
  appendRequestHead(req.head(), head, out);
  EXPECT_EQ(out,
            "GET /ws HTTP/1.1\r\nHost: h\r\nX-Request-Id: abc\r\nX-Forwarded-For: ::1\r\n"
            "X-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\nX-Forwarded-Port: 80\r\n"
            "Connection: upgrade\r\nUpgrade: websocket\r\n\r\n");
}

TEST(HttpUtil, ResponseHeadReplacesServerAndDate) {
  const Parsed res(H1Parser::Kind::kResponse,
                   "HTTP/1.1 200 Fine\r\nServer: backend/1.0\r\nDate: yesterday\r\n"
                   "Content-Length: 5\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\n"
                   "Keep-Alive: timeout=5\r\nSet-Cookie: a=b\r\n\r\n");
  ClientResponseHead head;
  head.date = "Sun, 06 Nov 1994 08:49:37 GMT";
  head.connection = ConnectionHeader::kClose;
  head.content_length = 5;
  std::string out;
  appendResponseHead(res.head(), head, out);
  EXPECT_EQ(
      out,
      "HTTP/1.1 200 Fine\r\nSet-Cookie: a=b\r\nServer: portico\r\n"
      "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 5\r\nConnection: close\r\n\r\n");
}

// An upstream may nominate any number of fields: the first kMaxConnectionTokens are honoured
// (they can only remove its own fields), the rest ignored, across several Connection fields.
TEST(HttpUtil, ResponseConnectionTokensPastTheBoundAreIgnored) {
  std::string tokens_a;
  std::string tokens_b;
  for (int i = 1; i <= 20; ++i) {
    tokens_a += (i > 1 ? ", " : "") + std::string("A") + std::to_string(i);
    tokens_b += (i > 1 ? ", " : "") + std::string("B") + std::to_string(i);
  }
  const Parsed res(H1Parser::Kind::kResponse, "HTTP/1.1 200 OK\r\nConnection: " + tokens_a +
                                                  "\r\nConnection: " + tokens_b +
                                                  "\r\nA1: x\r\nA16: x\r\nA17: x\r\nB1: x\r\n\r\n");
  ClientResponseHead head;
  head.date = "D";
  std::string out;
  appendResponseHead(res.head(), head, out);
  EXPECT_EQ(out.find("\r\nA1: "), std::string::npos) << out;
  EXPECT_EQ(out.find("\r\nA16: "), std::string::npos) << out;
  EXPECT_NE(out.find("\r\nA17: x\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\nB1: x\r\n"), std::string::npos) << out;
}

TEST(HttpUtil, LocalResponsesAndChunkPrefix) {
  std::string out;
  appendLocalResponse(404, "D", true, false, out);
  EXPECT_EQ(out,
            "HTTP/1.1 404 Not Found\r\nServer: portico\r\nDate: D\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 14\r\n\r\n"
            "404 Not Found\n");
  char buf[20];
  EXPECT_EQ(std::string(buf, chunkPrefix(8000, buf)), "1f40\r\n");
  EXPECT_EQ(std::string(buf, chunkPrefix(1, buf)), "1\r\n");
}

TEST(HttpUtil, DateAndIdempotence) {
  EXPECT_EQ(httpDate(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_TRUE(isIdempotent("GET"));
  EXPECT_TRUE(isIdempotent("PUT"));
  EXPECT_FALSE(isIdempotent("POST"));
  EXPECT_FALSE(isIdempotent("PATCH"));
  EXPECT_FALSE(isIdempotent("QUERY"));
}

TEST(ProxyError, OneMappingToStatus) {
  EXPECT_EQ(proxyErrorStatus({Phase::kReadHeader, Cause::kMalformed}), 400u);
  EXPECT_EQ(proxyErrorStatus({Phase::kRoute, Cause::kNoRoute}), 404u);
  EXPECT_EQ(proxyErrorStatus({Phase::kReadHeader, Cause::kClientTimeout}), 408u);
  EXPECT_EQ(proxyErrorStatus({Phase::kForwardRequest, Cause::kBodyTooLarge}), 413u);
  EXPECT_EQ(proxyErrorStatus({Phase::kReadHeader, Cause::kHeadersTooLarge}), 431u);
  EXPECT_EQ(proxyErrorStatus({Phase::kConnect, Cause::kRefused}), 502u);
  EXPECT_EQ(proxyErrorStatus({Phase::kUpstreamHeaders, Cause::kInvalidResponse}), 502u);
  EXPECT_EQ(proxyErrorStatus({Phase::kSelectUpstream, Cause::kNoEndpoint}), 503u);
  EXPECT_EQ(proxyErrorStatus({Phase::kUpstreamHeaders, Cause::kTimeout}), 504u);
  EXPECT_STREQ(phaseName(Phase::kUpstreamHeaders), "upstreamHeaders");
}

}  // namespace
}  // namespace portico::proxy
