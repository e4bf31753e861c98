// Hostile and careless peers, with a raw socket in front of the proxy and a recording upstream
// behind it (issue 6): what the client gets, and what the upstream sees. Every case here failed
// on the first slice (commit 6089118); docs/http-conformance.md has the same cases beside nginx
// and HAProxy.

#include "proxy_fixture.h"
#include "scripted_upstream.h"

#include <nlohmann/json.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace portico::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class HostileInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(a_.start(), 0);
    ASSERT_NE(b_.start(), 0);
    proxy_.publish(loopbackService("svc-a", {a_.port()}) + loopbackService("svc-b", {b_.port()}) +
                   simpleIngress("ing-a", "a.test", "/", "svc-a") +
                   simpleIngress("ing-b", "a.test", "/b", "svc-b") +
                   simpleIngress("ing-c", "c.test", "/", "svc-b"));
  }
  // Sends raw bytes on a new connection and reads one response.
  HttpResponse raw(const std::string& bytes, bool head = false) {
    Connection c(proxy_.port());
    EXPECT_TRUE(c.writeRaw(bytes));
    return c.readResponse(head);
  }
  std::uint64_t upstreamRequests() const { return a_.requestCount() + b_.requestCount(); }

  EchoBackend a_{"a"};
  EchoBackend b_{"b"};
  ProxyFixture proxy_;
};

json echoOf(const HttpResponse& r) {
  EXPECT_EQ(r.status, 200) << r.error << r.body;
  return r.status == 200 ? json::parse(r.body) : json::object();
}

// ---- Connection nominations --------------------------------------------------------------

TEST_F(HostileInputTest, ConnectionContentLengthCannotSmuggleARequest) {
  const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: a.test\r\n\r\n";
  const std::string req =
      "POST /a HTTP/1.1\r\nHost: a.test\r\nConnection: Content-Length\r\n"
      "Content-Length: " +
      std::to_string(smuggled.size()) + "\r\n\r\n" + smuggled;
  Connection c(proxy_.port());
  ASSERT_TRUE(c.writeRaw(req));
  const auto j = echoOf(c.readResponse());
  EXPECT_EQ(j["bodyBytes"], smuggled.size());  // the body stayed a body
  EXPECT_EQ(j["headers"]["Content-Length"][0], std::to_string(smuggled.size()));
  // The pooled upstream connection is reused by the next request: it must not have queued a
  // response to a smuggled request.
  const auto next = echoOf(get(proxy_.port(), "a.test", "/next"));
  EXPECT_EQ(next["path"], "/next");
  EXPECT_EQ(a_.requestCount(), 2u);
}

TEST_F(HostileInputTest, ConnectionNeverRemovesProtectedFields) {
  HttpRequest req;
  req.host = "a.test";
  req.headers = {{"Connection", "Host, X-Forwarded-For, X-Request-Id, Transfer-Encoding, X-Gone"},
                 {"X-Forwarded-For", "203.0.113.7"},
                 {"X-Request-Id", "keep-me"},
                 {"X-Gone", "1"}};
  const auto h = echoOf(request(proxy_.port(), req))["headers"];
  EXPECT_EQ(h["Host"][0], "a.test");
  EXPECT_EQ(h["X-Forwarded-For"][0], "203.0.113.7, 127.0.0.1");
  EXPECT_EQ(h["X-Request-Id"][0], "keep-me");
  EXPECT_FALSE(h.contains("X-Gone"));
}

TEST_F(HostileInputTest, TooManyConnectionTokensIs400) {
  std::string tokens = "a";
  for (int i = 0; i < 20; ++i) {
    tokens += ", x" + std::to_string(i);
  }
  EXPECT_EQ(raw("GET / HTTP/1.1\r\nHost: a.test\r\nConnection: " + tokens + "\r\n\r\n").status,
            400);
  EXPECT_EQ(raw("GET / HTTP/1.1\r\nHost: a.test\r\nConnection: a b\r\n\r\n").status, 400);
  EXPECT_EQ(upstreamRequests(), 0u);
}

// ---- Host ----------------------------------------------------------------------------------

TEST_F(HostileInputTest, SecondOrInvalidHostIs400) {
  for (const std::string& bad : {
           std::string("Host: a.test\r\nHost: c.test\r\n"),
           std::string("Host: a.test\r\nHost: a.test\r\n"),
           std::string("Host: a, b\r\n"),
           std::string("Host: a/b@c d\r\n"),
           std::string("Host: a.test:80x\r\n"),
           std::string("Host: [::1\r\n"),
           std::string("Host: user@a.test\r\n"),
       }) {
    const auto r = raw("GET / HTTP/1.1\r\n" + bad + "\r\n");
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(r.header("connection"), "close") << bad;
  }
  EXPECT_EQ(upstreamRequests(), 0u);
  EXPECT_TRUE(eventually(
      [&] { return metricValue(proxy_.registry(), "portico_rejected_requests_total") == 7; }));
}

TEST_F(HostileInputTest, AbsoluteFormRoutesByAuthorityAndSendsItAsHost) {
  const auto j = echoOf(raw("GET http://c.test/x?q=1 HTTP/1.1\r\nHost: a.test\r\n\r\n"));
  EXPECT_EQ(j["name"], "b");       // routed by c.test, not a.test
  EXPECT_EQ(j["host"], "c.test");  // and the upstream agrees
  EXPECT_EQ(j["path"], "/x?q=1");  // in origin-form
  EXPECT_EQ(j["headers"]["X-Forwarded-Host"][0], "c.test");
  EXPECT_EQ(echoOf(raw("GET HTTP://C.TEST HTTP/1.1\r\nHost: a.test\r\n\r\n"))["path"], "/");
  EXPECT_EQ(raw("GET http://u@c.test/ HTTP/1.1\r\nHost: c.test\r\n\r\n").status, 400);
  EXPECT_EQ(raw("GET ftp://c.test/ HTTP/1.1\r\nHost: c.test\r\n\r\n").status, 400);
  EXPECT_EQ(raw("GET c.test/ HTTP/1.1\r\nHost: c.test\r\n\r\n").status, 400);
}

// ---- Paths ---------------------------------------------------------------------------------

TEST_F(HostileInputTest, RoutesMatchTheNormalizedPathAndUpstreamsGetTheOriginal) {
  struct Case {
    std::string target;
    std::string backend;
  };
  for (const Case& c : std::vector<Case>{
           {"/b/../x", "a"},      // climbs out of /b
           {"/b/%2e%2e/x", "a"},  // the same, encoded
           {"/b/%2E%2e/x", "a"},
           {"/x/../b/c", "b"},  // climbs into /b
           {"//b//c", "b"},     // merged slashes
           {"/b/./c", "b"},
           {"/./b", "b"},
           {"/b%2fc", "a"},  // an encoded slash is not a separator
           {"/b/..", "a"},   // "/" after resolution
       }) {
    const auto j = echoOf(get(proxy_.port(), "a.test", c.target));
    EXPECT_EQ(j["name"], c.backend) << c.target;
    EXPECT_EQ(j["path"], c.target) << c.target;  // what the upstream receives: the original
  }
  for (const char* above : {"/..", "/../x", "/b/../../x", "/%2e%2e/x", "/a/./../../b"}) {
    EXPECT_EQ(get(proxy_.port(), "a.test", std::string(above)).status, 400) << above;
  }
  EXPECT_EQ(raw("GET /x#frag HTTP/1.1\r\nHost: a.test\r\n\r\n").status, 400);
}

// ---- Framing -------------------------------------------------------------------------------

TEST_F(HostileInputTest, UnknownTransferCodingsAre501AndBadOnes400) {
  EXPECT_EQ(raw("POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                "0\r\n\r\n")
                .status,
            501);
  EXPECT_EQ(raw("POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"
                "0\r\n\r\n")
                .status,
            400);
  EXPECT_EQ(raw("POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: gzip\r\n\r\nabc").status,
            400);
  EXPECT_EQ(
      raw("POST / HTTP/1.0\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").status,
      400);
  EXPECT_EQ(upstreamRequests(), 0u);
}

TEST_F(HostileInputTest, DuplicateContentLengthsAre400) {
  // Equal or not, as nginx (RFC 9112 6.3 allows refusing; passing one on is the other choice).
  for (const char* lengths :
       {"Content-Length: 3\r\nContent-Length: 3\r\n", "Content-Length: 3\r\nContent-Length: 4\r\n",
        "Content-Length: 3, 3\r\n", "Content-Length: +3\r\n",
        "Content-Length: 99999999999999999999\r\n"}) {
    EXPECT_EQ(raw(std::string("POST / HTTP/1.1\r\nHost: a.test\r\n") + lengths + "\r\nabcd").status,
              400)
        << lengths;
  }
  EXPECT_EQ(upstreamRequests(), 0u);
}

// ---- Head syntax: what a lenient parser would read differently from the upstream -------------

TEST_F(HostileInputTest, BareLineFeedsObsFoldAndBadBytesAre400) {
  static constexpr char kNulInValue[] = "GET / HTTP/1.1\r\nHost: a.test\r\nX: a\0b\r\n\r\n";
  for (const std::string& bad : {
           std::string("GET / HTTP/1.1\nHost: a.test\r\n\r\n"),
           std::string("GET / HTTP/1.1\r\nHost: a.test\nX: y\r\n\r\n"),
           std::string("GET / HTTP/1.1\r\nHost: a.test\r\n\n"),
           std::string("GET / HTTP/1.1\r\nHost: a.test\r\nX: a\rb\r\n\r\n"),
           std::string(kNulInValue, sizeof(kNulInValue) - 1),
           std::string("GET / HTTP/1.1\r\nHost: a.test\r\nX: a\r\n  folded\r\n\r\n"),
           std::string("GET / HTTP/1.1\r\nHost: a.test\r\nX\t: a\r\n\r\n"),
           std::string("GET  / HTTP/1.1\r\nHost: a.test\r\n\r\n"),
           std::string("GET /\x7f HTTP/1.1\r\nHost: a.test\r\n\r\n"),
           std::string("GET / HTTP/1.1 \r\nHost: a.test\r\n\r\n"),
       }) {
    EXPECT_EQ(raw(bad).status, 400) << bad;
  }
  EXPECT_EQ(upstreamRequests(), 0u);
  EXPECT_EQ(echoOf(get(proxy_.port(), "a.test", "/still-up"))["path"], "/still-up");
}

TEST_F(HostileInputTest, ChunkExtensionsAndTrailersAreReadAndBounded) {
  // Extensions and trailers are legal: the body arrives whole, re-chunked without either.
  const auto ok =
      echoOf(raw("POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "3;name=\"v a\"\r\nabc\r\n2 ; x\r\nde\r\n0\r\nX-Sum: 1\r\n\r\n"));
  EXPECT_EQ(ok["bodyBytes"], 5);
  EXPECT_EQ(ok["headers"].count("X-Sum"), 0u);
  // A chunk line that never ends, trailers past the header limit, a bare LF after chunk data,
  // a size of 17 hex digits: 400, and the connection closes.
  for (const std::string& bad : {
           "1;" + std::string(8000, 'e') + "\r\nx\r\n0\r\n\r\n",
           "0\r\nX-T: " + std::string(70 * 1024, 't') + "\r\n\r\n",
           std::string("3\r\nabc\n0\r\n\r\n"),
           std::string("10000000000000000\r\n"),
           std::string("3\r\nabc\r\n0\r\nbad trailer\r\n\r\n"),
       }) {
    Connection c(proxy_.port());
    ASSERT_TRUE(
        c.writeRaw("POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n" + bad));
    const auto r = c.readResponse();
    EXPECT_EQ(r.status, 400) << bad.substr(0, 40);
    EXPECT_EQ(r.header("connection"), "close") << bad.substr(0, 40);
  }
}

// ---- Request line --------------------------------------------------------------------------

TEST_F(HostileInputTest, ExtensionMethodsAreForwarded) {
  for (const std::string method : {"QUERY", "SOURCE", "PROPFIND", "X-CUSTOM.1"}) {
    const auto j = echoOf(raw(method + " /m HTTP/1.1\r\nHost: a.test\r\n\r\n"));
    EXPECT_EQ(j["method"], method);
  }
  EXPECT_EQ(raw("CONNECT a.test:443 HTTP/1.1\r\nHost: a.test\r\n\r\n").status, 405);
}

TEST_F(HostileInputTest, EmptyLinesBeforeTheRequestLineAreIgnored) {
  EXPECT_EQ(echoOf(raw("\r\n\r\nGET /e HTTP/1.1\r\nHost: a.test\r\n\r\n"))["path"], "/e");
  // Between keep-alive requests too.
  Connection c(proxy_.port());
  ASSERT_TRUE(
      c.writeRaw("GET /1 HTTP/1.1\r\nHost: a.test\r\n\r\n\r\nGET /2 HTTP/1.1\r\n"
                 "Host: a.test\r\n\r\n"));
  EXPECT_EQ(echoOf(c.readResponse())["path"], "/1");
  EXPECT_EQ(echoOf(c.readResponse())["path"], "/2");
}

TEST_F(HostileInputTest, VersionsOutsideHttp1AreRefusedAndHttp12IsHttp11) {
  EXPECT_EQ(echoOf(raw("GET /v HTTP/1.2\r\nHost: a.test\r\n\r\n"))["proto"], "HTTP/1.1");
  EXPECT_EQ(raw("GET / \r\nHost: a.test\r\n\r\n").status, 400);  // an empty version
  EXPECT_EQ(raw("GET / \r\n\r\n").status, 400);                  // the same, with nothing after it
  EXPECT_EQ(raw("GET /\r\n\r\n").status, 400);                   // HTTP/0.9
  EXPECT_EQ(raw("GET / HTTP/2.0\r\nHost: a.test\r\n\r\n").status, 505);
  EXPECT_EQ(raw("GET / HTTP/1.1\r\n\r\n").status, 400);  // HTTP/1.1 without Host
}

TEST_F(HostileInputTest, ATargetOverTheHeaderLimitIs414) {
  EXPECT_EQ(get(proxy_.port(), "a.test", "/" + std::string(70 * 1024, 't')).status, 414);
  HttpRequest req;
  req.host = "a.test";
  req.headers = {{"X-Big", std::string(70 * 1024, 'h')}};
  EXPECT_EQ(request(proxy_.port(), req).status, 431);
}

TEST_F(HostileInputTest, Http10ClientsGetNo100Continue) {
  Connection c(proxy_.port());
  ASSERT_TRUE(
      c.writeRaw("POST / HTTP/1.0\r\nHost: a.test\r\nExpect: 100-continue\r\n"
                 "Content-Length: 2\r\n\r\nhi"));
  const auto r = c.readResponse();
  EXPECT_EQ(r.status, 200);  // the final response first, never an interim one
  EXPECT_EQ(json::parse(r.body)["bodyBytes"], 2);
}

TEST_F(HostileInputTest, NonUtf8BytesReachTheUpstreamAndTheEchoBackendSurvives) {
  const auto r = raw("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a.test\r\nX-Latin1: caf\xe9\r\n\r\n");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(echoOf(get(proxy_.port(), "a.test", "/still-up"))["path"], "/still-up");
}

// ---- Per-route policies: the body limit -----------------------------------------------------

TEST(BodyLimitPolicy, TheAnnotationReplacesTheControllerLimitForItsRoutes) {
  EchoBackend backend("e");
  ASSERT_NE(backend.start(), 0);
  auto config = ProxyFixture::defaultConfig();
  config.max_body_size = 10;  // --max-body-size
  ProxyFixture proxy(config);
  proxy.publish(loopbackService("svc", {backend.port()}) +
                simpleIngress("plain", "plain.test", "/", "svc") +
                "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: big\n"
                "  namespace: default\n  annotations: {portico.dev/proxy-body-size: 1k}\n"
                "spec:\n  ingressClassName: portico\n  rules:\n  - host: big.test\n    http:\n"
                "      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: svc, "
                "port: {number: 80}}}}\n---\n");
  auto post = [&](const std::string& host, std::size_t n, bool chunked) {
    HttpRequest req;
    req.method = "POST";
    req.host = host;
    req.body = std::string(n, 'b');
    req.chunked = chunked;
    return request(proxy.port(), req);
  };
  EXPECT_EQ(post("big.test", 500, false).status, 200);
  EXPECT_EQ(post("big.test", 500, true).status, 200);
  EXPECT_EQ(post("plain.test", 500, false).status, 413);  // the controller's 10 bytes
  const auto before = backend.requestCount();
  const auto over = post("big.test", 2000, false);
  EXPECT_EQ(over.status, 413);
  EXPECT_EQ(over.header("connection"), "close");
  EXPECT_EQ(backend.requestCount(), before);  // refused before anything went upstream
  const auto chunked_over = post("big.test", 2000, true);
  EXPECT_TRUE(chunked_over.status == 413 || chunked_over.status == 0) << chunked_over.status;
}

// ---- Hostile and careless upstreams --------------------------------------------------------

class UpstreamBehaviourTest : public ::testing::Test {
 protected:
  void route(std::uint16_t port, proxy::ProxyConfig config = ProxyFixture::defaultConfig()) {
    proxy_ = std::make_unique<ProxyFixture>(config);
    proxy_->publish(loopbackService("svc", {port}) + simpleIngress("ing", "u.test", "/", "svc"));
  }
  std::unique_ptr<ProxyFixture> proxy_;
};

TEST_F(UpstreamBehaviourTest, ResponseFramingComesFromTheParserNotTheNominations) {
  ScriptedUpstream up([](const std::string&) {
    return ScriptedUpstream::Reply{
        cannedResponse("HTTP/1.1 200 OK", "Connection: Content-Length, X-Hop\r\nX-Hop: 1\r\n",
                       "hello"),
        ScriptedUpstream::After::kKeepAlive};
  });
  route(up.start());
  Connection c(proxy_->port());
  for (int i = 0; i < 2; ++i) {  // the second answer proves the first was framed
    ASSERT_TRUE(c.writeRaw("GET / HTTP/1.1\r\nHost: u.test\r\n\r\n"));
    const auto r = c.readResponse();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "hello");
    EXPECT_EQ(r.header("content-length"), "5");
    EXPECT_EQ(r.header("x-hop"), "");
  }
}

TEST_F(UpstreamBehaviourTest, ResponsesWithCodingsWeWouldDropAre502) {
  for (const std::string& head :
       {std::string("Transfer-Encoding: gzip, chunked\r\n"),
        std::string("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n")}) {
    ScriptedUpstream up([&](const std::string&) {
      return ScriptedUpstream::Reply{"HTTP/1.1 200 OK\r\n" + head + "\r\n5\r\nhello\r\n0\r\n\r\n"};
    });
    route(up.start());
    EXPECT_EQ(get(proxy_->port(), "u.test", "/").status, 502) << head;
  }
}

TEST_F(UpstreamBehaviourTest, MalformedResponseHeadsAre502AndBadChunksTruncate) {
  for (const std::string& head : {
           std::string("HTTP/1.1 200 OK\nContent-Length: 5\r\n\r\nhello"),
           std::string("HTTP/1.1 200 OK\r\nX: a\r\n folded\r\nContent-Length: 5\r\n\r\nhello"),
           std::string("HTTP/1.1 200 OK\r\nX: a\x01\r\nContent-Length: 5\r\n\r\nhello"),
           std::string("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
           std::string("HTTP/2.0 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
           std::string("HTTP/1.1 20 OK\r\nContent-Length: 5\r\n\r\nhello"),
       }) {
    ScriptedUpstream up([&](const std::string&) { return ScriptedUpstream::Reply{head}; });
    route(up.start());
    EXPECT_EQ(get(proxy_->port(), "u.test", "/").status, 502) << head;
  }
  // A bad first chunk: nothing reached the client yet, so it gets a 502.
  {
    ScriptedUpstream bad([](const std::string&) {
      return ScriptedUpstream::Reply{
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"};
    });
    route(bad.start());
    EXPECT_EQ(get(proxy_->port(), "u.test", "/").status, 502);
  }
  // A bad chunk after good ones: what was decoded reaches the client, then the connection
  // closes before the last chunk: a truncated response, never a well-framed one.
  ScriptedUpstream up([](const std::string&) {
    return ScriptedUpstream::Reply{
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n"};
  });
  route(up.start());
  Connection c(proxy_->port());
  ASSERT_TRUE(c.writeRaw("GET / HTTP/1.1\r\nHost: u.test\r\n\r\n"));
  const std::string got = c.readUntilClose();
  EXPECT_NE(got.find("hello"), std::string::npos) << got;
  EXPECT_EQ(got.find("\r\n0\r\n\r\n"), std::string::npos) << got;  // no last chunk
  EXPECT_TRUE(eventually([&] {
    return metricValue(proxy_->registry(), "portico_upstream_truncated_responses_total") == 1;
  }));
}

TEST_F(UpstreamBehaviourTest, InterimResponsesAreSkippedUpToALimit) {
  // A few 1xx before the answer are normal (103 Early Hints, a 100 of its own); an upstream that
  // sends them without end is broken: 502, and the proxy neither loops nor recurses on them.
  for (const auto& [interim, status] :
       {std::pair{3, 200}, std::pair{17, 502}, std::pair{5000, 502}}) {
    std::string bytes;
    for (int i = 0; i < interim; ++i) {
      bytes += i % 2 == 0 ? "HTTP/1.1 100 Continue\r\n\r\n"
                          : "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n";
    }
    bytes += cannedResponse("HTTP/1.1 200 OK", "", "final");
    ScriptedUpstream up([&](const std::string&) { return ScriptedUpstream::Reply{bytes}; });
    route(up.start());
    const auto r = get(proxy_->port(), "u.test", "/");
    EXPECT_EQ(r.status, status) << interim << " interim responses";
    if (status == 200) {
      EXPECT_EQ(r.body, "final");
    }
  }
}

TEST_F(UpstreamBehaviourTest, AnEarlyAnswerDuringAnUploadReachesTheClient) {
  // The upstream refuses the upload as soon as it has the head, before the body ends.
  ScriptedUpstream up([](const std::string&) {
    return ScriptedUpstream::Reply{
        cannedResponse("HTTP/1.1 413 Payload Too Large", "Connection: close\r\n", "too big\n"),
        ScriptedUpstream::After::kDrain};
  });
  route(up.start());
  Connection c(proxy_->port());
  ASSERT_TRUE(
      c.writeRaw("POST /upload HTTP/1.1\r\nHost: u.test\r\nContent-Length: 10000000\r\n"
                 "\r\n" +
                 std::string(64 * 1024, 'x')));
  const auto r = c.readResponse();  // while 9.9 MB of the body have not been sent
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.body, "too big\n");
  EXPECT_EQ(r.header("connection"), "close");
  // Counted when the exchange ends, which may be just after the client read the answer.
  EXPECT_TRUE(eventually([&] {
    return metricSum(proxy_->registry().expose(), "portico_requests_total", {"status=\"413\""}) ==
           1;
  }));
}

TEST_F(UpstreamBehaviourTest, AMidBodyFailureCountsAsWhatTheClientSaw) {
  ScriptedUpstream up([](const std::string&) {
    return ScriptedUpstream::Reply{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten.."};
  });
  route(up.start());
  Connection c(proxy_->port());
  ASSERT_TRUE(c.writeRaw("GET / HTTP/1.1\r\nHost: u.test\r\n\r\n"));
  const std::string got = c.readUntilClose();
  EXPECT_NE(got.find("200 OK"), std::string::npos);
  EXPECT_NE(got.find("only ten.."), std::string::npos);
  const auto& reg = proxy_->registry();
  EXPECT_TRUE(eventually(
      [&] { return metricValue(reg, "portico_upstream_truncated_responses_total") == 1; }));
  EXPECT_EQ(metricSum(reg.expose(), "portico_requests_total", {"status=\"200\""}), 1);
  EXPECT_EQ(metricSum(reg.expose(), "portico_requests_total", {"status=\"5"}), 0);
}

TEST_F(UpstreamBehaviourTest, ClientAbortsAreCounted) {
  ScriptedUpstream up([](const std::string&) {
    return ScriptedUpstream::Reply{cannedResponse("HTTP/1.1 200 OK", "", "late"),
                                   ScriptedUpstream::After::kClose, /*gated=*/true};
  });
  route(up.start());
  {
    Connection c(proxy_->port());
    ASSERT_TRUE(c.writeRaw("POST / HTTP/1.1\r\nHost: u.test\r\nContent-Length: 1000\r\n\r\n" +
                           std::string(10, 'x')));
    ASSERT_TRUE(eventually([&] { return up.requestCount() == 1; }));
  }  // the client leaves with 990 bytes of its body unsent
  EXPECT_TRUE(eventually(
      [&] { return metricValue(proxy_->registry(), "portico_client_aborts_total") == 1; }));
  up.release();
}

TEST_F(UpstreamBehaviourTest, AConnectTimeoutGoesToTheNextEndpoint) {
  // A listener that never accepts, with its one-slot backlog filled: further SYNs are dropped,
  // so connecting to it times out, as a blackholed pod IP does during a rollout.
  const int blackhole = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(blackhole, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(blackhole, 0), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(blackhole, reinterpret_cast<sockaddr*>(&addr), &len);
  std::vector<int> fillers;
  for (int i = 0; i < 3; ++i) {
    const int f = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ::connect(f, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    fillers.push_back(f);
  }
  EchoBackend good("good");
  ASSERT_NE(good.start(), 0);
  auto config = ProxyFixture::defaultConfig();
  config.workers = 1;
  config.upstream_connect_timeout = 300ms;
  proxy_ = std::make_unique<ProxyFixture>(config);
  proxy_->publish(loopbackService("svc", {ntohs(addr.sin_port), good.port()}) +
                  simpleIngress("ing", "u.test", "/", "svc"));
  for (int i = 0; i < 4; ++i) {  // round robin meets the blackhole at least twice
    const auto r = get(proxy_->port(), "u.test", "/");
    EXPECT_EQ(r.status, 200) << r.error;
  }
  EXPECT_GE(metricValue(proxy_->registry(), "portico_upstream_retries_total"), 1u);
  for (int f : fillers) {
    ::close(f);
  }
  ::close(blackhole);
}

}  // namespace
}  // namespace portico::testing
