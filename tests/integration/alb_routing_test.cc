// ALB-style routing end to end, with real listeners and real echo backends: conditions,
// weighted forwarding, stickiness, redirects, fixed responses, each balancing algorithm, active
// and passive health, fail open, slow start and draining during a rolling update.

#include "proxy_fixture.h"
#include "tls/certificate.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <map>
#include <set>
#include <thread>

namespace portico::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::string nameOf(const HttpResponse& r) { return r.header("x-backend-name"); }

// Which backend answered each of `n` requests.
std::map<std::string, int> spread(std::uint16_t port, HttpRequest req, int n) {
  std::map<std::string, int> out;
  Connection c(port);
  for (int i = 0; i < n; ++i) {
    const auto r = c.send(req);
    ++out[r.status == 0 ? "error" : nameOf(r)];
  }
  return out;
}

std::string ingressWith(const std::string& annotations, const std::string& paths,
                        const std::string& host = "alb.test") {
  return "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: alb\n  namespace: "
         "default\n  annotations:\n" +
         annotations + "spec:\n  ingressClassName: portico\n  rules:\n  - host: " + host +
         "\n    http:\n      paths:\n" + paths + "---\n";
}

std::string path(const std::string& p, const std::string& service,
                 const std::string& port = "number: 80", const std::string& type = "Prefix") {
  return "      - {path: " + p + ", pathType: " + type + ", backend: {service: {name: " + service +
         ", port: {" + port + "}}}}\n";
}

class AlbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(a_.start(), 0);
    ASSERT_NE(b_.start(), 0);
  }
  std::string services(const std::string& a_annotations = "",
                       const std::string& b_annotations = "") {
    return loopbackService("svc-a", {a_.port()}, "default", a_annotations) +
           loopbackService("svc-b", {b_.port()}, "default", b_annotations);
  }
  HttpRequest req(const std::string& target = "/") {
    HttpRequest r;
    r.host = "alb.test";
    r.target = target;
    return r;
  }
  std::uint64_t metric(const std::string& series) { return metricValue(proxy_.registry(), series); }
  // Service "svc" with both backends as endpoints and the Service's `annotations`, routed from
  // alb.test/.
  void publishSvc(const std::string& annotations) {
    proxy_.publish(loopbackService("svc", {a_.port(), b_.port()}, "default", annotations) +
                   ingressWith("    portico.dev/group.order: \"0\"\n", path("/", "svc")));
  }
  // Endpoints of svc's target group that health checks took out.
  std::uint64_t unhealthy() {
    return metric(
        "portico_target_group_endpoints{namespace=\"default\",service=\"svc\",port=\"80\","
        "target_group=\"default/svc:80\",state=\"unhealthy\"}");
  }
  EchoBackend a_{"a"};
  EchoBackend b_{"b"};
  EchoBackend c_{"c"};
  ProxyFixture proxy_;
};

TEST_F(AlbTest, ConditionsRouteByHeaderQueryMethodSourceAndFallBackToThePlainRule) {
  proxy_.publish(services() + ingressWith(R"(    portico.dev/conditions.svc-b: >-
      [{"field": "http-header", "httpHeaderConfig": {"httpHeaderName": "X-Canary", "values": ["yes", "beta-*"]}},
       {"field": "query-string", "queryStringConfig": {"values": [{"key": "v", "value": "2"}, {"key": "force"}]}},
       {"field": "http-request-method", "httpRequestMethodConfig": {"values": ["GET", "POST"]}},
       {"field": "source-ip", "sourceIpConfig": {"values": ["127.0.0.0/8", "::1/128"]}}]
)",
                                          path("/", "svc-a") + path("/", "svc-b")));
  auto r = req("/x?v=2");
  r.headers = {{"X-Canary", "BETA-7"}};
  EXPECT_EQ(nameOf(request(proxy_.port(), r)), "b");  // header (any case), query, method, source
  r.target = "/x?other=1&force";
  EXPECT_EQ(nameOf(request(proxy_.port(), r)), "b");  // a key without a value
  r.target = "/x?v=3";
  EXPECT_EQ(nameOf(request(proxy_.port(), r)), "a");  // the query fails: the plain rule
  r.target = "/x?v=2";
  r.method = "DELETE";
  EXPECT_EQ(nameOf(request(proxy_.port(), r)), "a");  // the method fails
  r.method = "GET";
  r.headers = {{"X-Canary", "no"}};
  EXPECT_EQ(nameOf(request(proxy_.port(), r)), "a");  // the header fails
  r.headers = {{"X-Other", "yes"}, {"X-Canary", "yes"}};
  EXPECT_EQ(nameOf(request(proxy_.port(), r)), "b");  // any field of the name
}

TEST_F(AlbTest, ASourceIpOutsideTheRangeAndPathAndHostPatternsFallThrough) {
  proxy_.publish(services() + ingressWith(R"(    portico.dev/conditions.svc-b: >-
      [{"field": "source-ip", "sourceIpConfig": {"values": ["192.0.2.0/24"]}}]
    portico.dev/conditions.svc-a: >-
      [{"field": "path-pattern", "pathPatternConfig": {"values": ["/api/*/items"]}},
       {"field": "host-header", "hostHeaderConfig": {"values": ["*.TEST"]}}]
)",
                                          path("/", "svc-b") + path("/", "svc-a")));
  EXPECT_EQ(nameOf(request(proxy_.port(), req("/api/v1/items"))), "a");
  EXPECT_EQ(request(proxy_.port(), req("/api/v1/other")).status, 404);  // no rule matches
}

TEST_F(AlbTest, WeightedForwardHoldsItsRatioAndWeightZeroGetsNothing) {
  ASSERT_NE(c_.start(), 0);
  proxy_.publish(services() + loopbackService("svc-c", {c_.port()}) +
                 ingressWith(R"(    portico.dev/actions.split: >-
      {"type": "forward", "forwardConfig": {"targetGroups": [
        {"serviceName": "svc-a", "servicePort": 80, "weight": 70},
        {"serviceName": "svc-b", "servicePort": "80", "weight": 30},
        {"serviceName": "svc-c", "servicePort": 80, "weight": 0}]}}
)",
                             path("/", "split", "name: use-annotation")));
  // Spread over new connections, so both workers take part.
  std::map<std::string, int> seen;
  for (int i = 0; i < 1000; ++i) {
    ++seen[nameOf(request(proxy_.port(), req()))];
  }
  EXPECT_NEAR(seen["a"], 700, 50);
  EXPECT_NEAR(seen["b"], 300, 50);
  EXPECT_EQ(seen["c"], 0);
  EXPECT_EQ(c_.requestCount(), 0u);
}

TEST_F(AlbTest, StickinessKeepsAClientOnItsTargetGroup) {
  proxy_.publish(services() + ingressWith(R"(    portico.dev/actions.split: >-
      {"type": "forward", "forwardConfig": {"targetGroups": [
        {"serviceName": "svc-a", "servicePort": 80, "weight": 50},
        {"serviceName": "svc-b", "servicePort": 80, "weight": 50}],
       "targetGroupStickinessConfig": {"enabled": true, "durationSeconds": 120}}}
)",
                                          path("/", "split", "name: use-annotation")));
  const auto first = request(proxy_.port(), req());
  ASSERT_EQ(first.status, 200);
  const std::string cookie = first.header("set-cookie");
  ASSERT_EQ(cookie.rfind("portico-tg=", 0), 0u) << cookie;
  EXPECT_NE(cookie.find("Max-Age=120"), std::string::npos) << cookie;
  const std::string pair = cookie.substr(0, cookie.find(';'));
  auto r = req();
  r.headers = {{"Cookie", "session=x; " + pair}};
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(nameOf(request(proxy_.port(), r)), nameOf(first));
  }
  // A forged or stale cookie is ignored: the split decides.
  r.headers = {{"Cookie", "portico-tg=0000000000000001"}};
  EXPECT_EQ(spread(proxy_.port(), r, 10).size(), 2u);
}

TEST_F(AlbTest, RedirectAndFixedResponseActionsAnswerWithoutABackend) {
  proxy_.publish(services() + ingressWith(R"(    portico.dev/actions.moved: >-
      {"type": "redirect", "redirectConfig": {"protocol": "HTTPS", "host": "new.#{host}",
       "path": "/v2/#{path}", "query": "from=old&#{query}", "statusCode": "HTTP_301"}}
    portico.dev/actions.down: >-
      {"type": "fixed-response", "fixedResponseConfig": {"statusCode": "503",
       "contentType": "application/json", "messageBody": "{\"down\": true}"}}
)",
                                          path("/old", "moved", "name: use-annotation") +
                                              path("/down", "down", "name: use-annotation")));
  auto r = req("/old/page?x=1");
  r.host = "Alb.Test:8080";
  const auto moved = request(proxy_.port(), r);
  EXPECT_EQ(moved.status, 301);
  EXPECT_EQ(moved.header("location"), "https://new.alb.test:8080/v2/old/page?from=old&x=1");
  const auto down = request(proxy_.port(), req("/down"));
  EXPECT_EQ(down.status, 503);
  EXPECT_EQ(down.header("content-type"), "application/json");
  EXPECT_EQ(down.body, "{\"down\": true}");
  EXPECT_EQ(a_.requestCount() + b_.requestCount(), 0u);
}

TEST_F(AlbTest, EachAlgorithmSpreadsOverBothBackends) {
  // (ewma sends to the faster of two backends whose latency differs by noise: it has its own
  // test below.)
  for (const char* algorithm : {"round_robin", "random", "least_request"}) {
    SCOPED_TRACE(algorithm);
    const std::string ann = std::string("portico.dev/load-balancing-algorithm: ") + algorithm;
    proxy_.publish(loopbackService("svc", {a_.port(), b_.port()}, "default", ann) +
                   ingressWith("    portico.dev/group.order: \"0\"\n", path("/", "svc")));
    const auto seen = spread(proxy_.port(), req(), 400);
    EXPECT_GT(seen.count("a") ? seen.at("a") : 0, 80);
    EXPECT_GT(seen.count("b") ? seen.at("b") : 0, 80);
    EXPECT_EQ(seen.count("error"), 0u);
  }
}

TEST_F(AlbTest, RingHashKeepsAKeyOnOneBackend) {
  publishSvc(
      "portico.dev/load-balancing-algorithm: ring_hash, "
      "portico.dev/load-balancing-hash-key: \"header:X-User\"");
  std::set<std::string> backends;
  for (int user = 0; user < 40; ++user) {
    auto r = req();
    r.headers = {{"X-User", "user-" + std::to_string(user)}};
    const auto seen = spread(proxy_.port(), r, 5);
    EXPECT_EQ(seen.size(), 1u) << "user-" << user;  // always the same backend
    backends.insert(seen.begin()->first);
  }
  EXPECT_EQ(backends.size(), 2u);  // and the users spread over both
}

TEST_F(AlbTest, LeastRequestAvoidsTheBackendWithRequestsInFlight) {
  publishSvc("portico.dev/load-balancing-algorithm: least_request");
  // Hold requests on whichever backend gets them until one holds three.
  std::vector<std::thread> held;
  for (int i = 0; i < 6; ++i) {
    held.emplace_back([&] { request(proxy_.port(), req("/?gate=1")); });
  }
  ASSERT_TRUE(eventually([&] { return a_.heldCount() + b_.heldCount() == 6; }));
  // Two choices out of two: a new request goes to the backend with fewer in flight.
  const bool a_busier = a_.heldCount() > b_.heldCount();
  if (a_.heldCount() != b_.heldCount()) {
    const auto seen = spread(proxy_.port(), req(), 20);
    EXPECT_EQ(seen.count(a_busier ? "a" : "b"), 0u);
  }
  a_.release();
  b_.release();
  for (auto& t : held) {
    t.join();
  }
}

TEST_F(AlbTest, EwmaMovesTrafficAwayFromASlowBackend) {
  publishSvc("portico.dev/load-balancing-algorithm: ewma");
  a_.delayAll(50);
  spread(proxy_.port(), req(), 20);  // both get samples
  const auto seen = spread(proxy_.port(), req(), 100);
  EXPECT_LT(seen.count("a") ? seen.at("a") : 0, 15) << "a is 50 ms slower";
}

TEST_F(AlbTest, AFailingBackendLeavesWithinItsThresholdsAndComesBack) {
  publishSvc(
      "portico.dev/healthcheck-path: /health, "
      "portico.dev/healthcheck-interval-seconds: \"1\", "
      "portico.dev/healthcheck-timeout-seconds: \"1\", "
      "portico.dev/passive-health-failures: \"0\"");
  ASSERT_TRUE(
      eventually([&] { return metric("portico_health_checks_total{result=\"success\"}") >= 2; }));
  a_.failWith(503);
  // Two failed checks a second apart: out within about two seconds (a deadline of ten).
  ASSERT_TRUE(eventually([&] { return unhealthy() == 1; }));
  EXPECT_EQ(spread(proxy_.port(), req(), 20), (std::map<std::string, int>{{"b", 20}}));
  a_.failWith(0);
  ASSERT_TRUE(eventually([&] { return unhealthy() == 0; }));
  EXPECT_EQ(spread(proxy_.port(), req(), 20).size(), 2u);
}

TEST_F(AlbTest, TcpChecksSeeABackendThatStopsListening) {
  publishSvc(
      "portico.dev/healthcheck-protocol: TCP, "
      "portico.dev/healthcheck-interval-seconds: \"1\", "
      "portico.dev/unhealthy-threshold-count: \"1\"");
  const std::uint16_t port = a_.port();
  a_.stop();
  ASSERT_TRUE(eventually([&] { return unhealthy() == 1; }));
  EXPECT_EQ(spread(proxy_.port(), req(), 10), (std::map<std::string, int>{{"b", 10}}));
  ASSERT_EQ(a_.start(port), port);
  ASSERT_TRUE(eventually([&] { return unhealthy() == 0; })) << proxy_.registry().expose();
}

TEST_F(AlbTest, PassiveEjectionTakesOutABackendThatAnswers5xx) {
  publishSvc(
      "portico.dev/passive-health-failures: \"3\", "
      "portico.dev/passive-health-ejection-seconds: \"60\"");
  a_.failWith(500);
  spread(proxy_.port(), req(), 10);  // a answers 500 three times (round robin): ejected
  EXPECT_GE(metric("portico_upstream_ejections_total"), 1u);
  EXPECT_EQ(spread(proxy_.port(), req(), 20), (std::map<std::string, int>{{"b", 20}}));
}

TEST_F(AlbTest, WhenEveryEndpointIsUnhealthyTrafficFailsOpenAndAMetricSaysSo) {
  publishSvc(
      "portico.dev/healthcheck-interval-seconds: \"1\", "
      "portico.dev/success-codes: \"200\", "
      "portico.dev/passive-health-failures: \"0\"");
  a_.failWith(503);
  b_.failWith(503);
  ASSERT_TRUE(eventually([&] { return unhealthy() == 2; }));
  // Both still get requests (their own 503s reach the client, not portico's "no endpoint").
  const auto seen = spread(proxy_.port(), req(), 10);
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_TRUE(eventually([&] {
    return metric(
               "portico_target_group_fail_open{namespace=\"default\",service=\"svc\",port=\"80\","
               "target_group=\"default/svc:80\"}") == 1;
  }));
}

TEST_F(AlbTest, SlowStartGivesANewEndpointASmallShareFirst) {
  const std::string ann = "portico.dev/slow-start-seconds: \"600\"";
  proxy_.publish(loopbackService("svc", {a_.port()}, "default", ann) +
                 ingressWith("    portico.dev/group.order: \"0\"\n", path("/", "svc")));
  proxy_.publish(loopbackService("svc", {a_.port(), b_.port()}, "default", ann) +
                 ingressWith("    portico.dev/group.order: \"0\"\n", path("/", "svc")));
  const auto seen = spread(proxy_.port(), req(), 400);
  // At the start of its window b gets about a tenth of its share, not half.
  EXPECT_LT(seen.count("b") ? seen.at("b") : 0, 60);
  EXPECT_GT(seen.count("b") ? seen.at("b") : 0, 0);
}

// A rolling update: b starts, a turns terminating while requests are in flight on it, then
// leaves. A client hammering all along sees no failure, and a's held request completes.
TEST_F(AlbTest, RollingUpdateDrainsWithZeroFailedRequests) {
  const auto slices = [&](const std::string& a_state, bool with_b) {
    std::string y =
        "apiVersion: v1\nkind: Service\nmetadata: {name: svc, namespace: default}\nspec:\n"
        "  ports: [{name: http, port: 80, targetPort: http}]\n---\n";
    const auto slice = [&](const std::string& name, std::uint16_t port, const std::string& cond) {
      y += "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: " + name +
           "\n  namespace: default\n  labels: {kubernetes.io/service-name: svc}\naddressType: "
           "IPv4\nports: [{name: http, port: " +
           std::to_string(port) +
           "}]\nendpoints: [{addresses: [\"127.0.0.1\"], conditions: " + cond + "}]\n---\n";
    };
    if (!a_state.empty()) {
      slice("svc-a", a_.port(), a_state);
    }
    if (with_b) {
      slice("svc-b", b_.port(), "{ready: true}");
    }
    return y + ingressWith("    portico.dev/group.order: \"0\"\n", path("/", "svc"));
  };
  proxy_.publish(slices("{ready: true}", false));
  std::thread held([&] {
    EXPECT_EQ(request(proxy_.port(), req("/?gate=1")).status, 200);  // in flight on a
  });
  ASSERT_TRUE(eventually([&] { return a_.heldCount() == 1; }));
  std::atomic<bool> stop{false};
  std::atomic<int> failed{0};
  std::atomic<int> done{0};
  std::thread client([&] {
    Connection c(proxy_.port());
    while (!stop) {
      const auto r = c.send(req());
      if (r.status != 200) {
        ++failed;
      }
      ++done;
    }
  });
  ASSERT_TRUE(eventually([&] { return done > 20; }));
  proxy_.publish(slices("{ready: true}", true));  // b is up
  ASSERT_TRUE(eventually([&] { return b_.requestCount() > 10; }));
  proxy_.publish(slices("{ready: false, serving: true, terminating: true}", true));  // a drains
  const auto a_before = a_.requestCount();
  const int after_drain = done;
  ASSERT_TRUE(eventually([&] { return done > after_drain + 50; }));
  EXPECT_EQ(a_.requestCount(), a_before);  // no new request reached a
  a_.release();                            // its in-flight request finishes
  held.join();
  proxy_.publish(slices("", true));  // a is gone
  a_.stop();
  const int after_gone = done;
  ASSERT_TRUE(eventually([&] { return done > after_gone + 50; }));
  stop = true;
  client.join();
  EXPECT_EQ(failed, 0);
}

}  // namespace
}  // namespace portico::testing

namespace portico::testing {
namespace {

// What a hostile client can put where conditions and stickiness look: every answer is a clear
// one, from the route the rules say, and nothing else reaches the backends.
TEST_F(AlbTest, HostileHeadersQueriesAndCookiesGetTheRulesAnswer) {
  proxy_.publish(services() + ingressWith(R"(    portico.dev/conditions.svc-b: >-
      [{"field": "http-header", "httpHeaderConfig": {"httpHeaderName": "X-Canary", "values": ["*a*a*a*b"]}},
       {"field": "query-string", "queryStringConfig": {"values": [{"key": "k*", "value": "?"}]}}]
    portico.dev/actions.split: >-
      {"type": "forward", "forwardConfig": {"targetGroups": [
        {"serviceName": "svc-a", "servicePort": 80, "weight": 1},
        {"serviceName": "svc-b", "servicePort": 80, "weight": 1}],
       "targetGroupStickinessConfig": {"enabled": true, "durationSeconds": 60}}}
)",
                                          path("/", "svc-a") + path("/", "svc-b") +
                                              path("/s", "split", "name: use-annotation")));
  // A long header value that almost matches the pattern: answered by the plain rule, quickly.
  auto r = req("/?k1=x");
  r.headers = {{"X-Canary", std::string(30000, 'a')}};
  EXPECT_EQ(nameOf(request(proxy_.port(), r)), "a");
  r.headers = {{"X-Canary", std::string(30000, 'a') + "b"}};
  EXPECT_EQ(nameOf(request(proxy_.port(), r)), "b");
  // Queries with empty pairs, no '=', repeated '&', an encoded '&', and a huge one.
  for (const char* target : {"/?&&k1=x&&", "/?=&k1=x", "/?k1", "/?k1=%26", "/?%6b1=x"}) {
    r.target = target;
    r.headers = {{"X-Canary", "aaab"}};
    const std::string expected =
        std::string(target) == "/?&&k1=x&&" || std::string(target) == "/?=&k1=x" ? "b" : "a";
    EXPECT_EQ(nameOf(request(proxy_.port(), r)), expected) << target;
  }
  r.target = "/?" + std::string(20000, '&') + "k1=x";
  EXPECT_EQ(nameOf(request(proxy_.port(), r)), "b");
  // Stickiness cookies that are not ours, forged, repeated, oversized or malformed: split by
  // weight, each answer a 200 with a fresh cookie.
  for (const std::string& cookie :
       {std::string("portico-tg="), std::string("portico-tg=zzzzzzzzzzzzzzzz"),
        std::string("portico-tg=1; portico-tg=2"), "portico-tg=" + std::string(5000, 'f'),
        std::string(";;;=;portico-tg"), std::string("portico-tg=\"\"")}) {
    auto s = req("/s");
    s.headers = {{"Cookie", cookie}, {"Cookie", "other=1"}};
    const auto res = request(proxy_.port(), s);
    EXPECT_EQ(res.status, 200) << cookie;
    EXPECT_EQ(res.header("set-cookie").rfind("portico-tg=", 0), 0u) << cookie;
  }
}

}  // namespace
}  // namespace portico::testing

namespace portico::testing {
namespace {

// A request still in flight on a terminating endpoint when its deregistration delay runs out is
// ended (502: nothing of its answer had left), as the ALB closes such connections.
TEST_F(AlbTest, TheDeregistrationDelayBoundsRequestsLeftOnADrainingEndpoint) {
  const auto manifest = [&](const std::string& conditions) {
    return "apiVersion: v1\nkind: Service\nmetadata: {name: svc, namespace: default, annotations: "
           "{portico.dev/deregistration-delay-seconds: \"1\"}}\nspec:\n  ports: [{name: http, "
           "port: 80, targetPort: http}]\n---\napiVersion: discovery.k8s.io/v1\nkind: "
           "EndpointSlice\nmetadata:\n  name: svc-a\n  namespace: default\n  labels: "
           "{kubernetes.io/service-name: svc}\naddressType: IPv4\nports: [{name: http, port: " +
           std::to_string(a_.port()) +
           "}]\nendpoints: [{addresses: [\"127.0.0.1\"], conditions: " + conditions + "}]\n---\n" +
           ingressWith("    portico.dev/group.order: \"0\"\n", path("/", "svc"));
  };
  proxy_.publish(manifest("{ready: true}"));
  HttpResponse held;
  std::thread client([&] { held = request(proxy_.port(), req("/?gate=1")); });
  ASSERT_TRUE(eventually([&] { return a_.heldCount() == 1; }));
  const auto started = std::chrono::steady_clock::now();
  proxy_.publish(manifest("{ready: false, serving: true, terminating: true}"));
  client.join();  // ended by portico, not by the backend (which still holds it)
  EXPECT_EQ(held.status, 502);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 900ms);  // not before the delay
  EXPECT_EQ(a_.heldCount(), 1u);
  a_.release();

  // A websocket on a draining endpoint is closed when the delay is over too.
  proxy_.publish(manifest("{ready: true}"));
  namespace websocket = boost::beast::websocket;
  boost::asio::io_context ioc;
  websocket::stream<boost::asio::ip::tcp::socket> ws(ioc);
  ws.next_layer().connect({boost::asio::ip::make_address("127.0.0.1"), proxy_.port()});
  ws.handshake("alb.test", "/ws");
  ws.write(boost::asio::buffer(std::string("before")));
  boost::beast::flat_buffer buf;
  ws.read(buf);
  EXPECT_EQ(boost::beast::buffers_to_string(buf.data()), "before");
  const auto drained = std::chrono::steady_clock::now();
  proxy_.publish(manifest("{ready: false, serving: true, terminating: true}"));
  boost::system::error_code ec;
  buf.clear();
  ws.read(buf, ec);  // blocks until portico closes the tunnel
  EXPECT_TRUE(ec) << "the tunnel should have been closed";
  EXPECT_GE(std::chrono::steady_clock::now() - drained, 900ms);
}

}  // namespace
}  // namespace portico::testing

namespace portico::testing {
namespace {

// A health verdict lives with the endpoint: a reconfiguration that keeps the endpoint in its
// target group keeps it out of rotation, without a new round of checks.
TEST_F(AlbTest, AnUnhealthyEndpointStaysOutAcrossAReconfiguration) {
  const std::string checks =
      "portico.dev/healthcheck-interval-seconds: \"60\", "
      "portico.dev/unhealthy-threshold-count: \"1\"";
  a_.failWith(503);
  publishSvc(checks);
  ASSERT_TRUE(eventually([&] { return unhealthy() == 1; }));  // the first check, within 1 s
  // Another Ingress appears: a new snapshot, new target group indexes, the same endpoint states.
  proxy_.publish(loopbackService("svc", {a_.port(), b_.port()}, "default", checks) +
                 loopbackService("other", {b_.port()}) +
                 simpleIngress("other", "other.test", "/", "other") +
                 ingressWith("    portico.dev/group.order: \"0\"\n", path("/", "svc")));
  const auto probes = metric("portico_health_checks_total{result=\"failure\"}");
  EXPECT_EQ(spread(proxy_.port(), req(), 20), (std::map<std::string, int>{{"b", 20}}));
  EXPECT_EQ(metric("portico_health_checks_total{result=\"failure\"}"), probes);  // no new check
}

// HTTPS checks speak TLS to the endpoint (the target group's own client context).
TEST_F(AlbTest, HttpsChecksJudgeATlsBackendByItsStatus) {
  EchoBackend secure("secure");
  const auto cert = tls::makeCertificate(tls::KeyType::kEcdsaP256, {"secure.test"},
                                         unixNow() - 3600, unixNow() + 86400, nullptr, false);
  ASSERT_TRUE(secure.useTls(cert.cert, cert.key));
  ASSERT_NE(secure.start(), 0);
  proxy_.publish(loopbackService("svc", {secure.port()}, "default",
                                 "portico.dev/backend-protocol: HTTPS, "
                                 "portico.dev/healthcheck-protocol: HTTPS, "
                                 "portico.dev/healthcheck-interval-seconds: \"1\", "
                                 "portico.dev/unhealthy-threshold-count: \"1\"") +
                 ingressWith("    portico.dev/group.order: \"0\"\n", path("/", "svc")));
  ASSERT_TRUE(
      eventually([&] { return metric("portico_health_checks_total{result=\"success\"}") >= 1; }));
  const std::string unhealthy_tls =
      "portico_target_group_endpoints{namespace=\"default\",service=\"svc\",port=\"80\","
      "target_group=\"default/svc:80/https;sni=svc.default.svc\",state=\"unhealthy\"}";
  EXPECT_EQ(metric(unhealthy_tls), 0u);
  secure.failWith(500);
  ASSERT_TRUE(eventually([&] { return metric(unhealthy_tls) == 1; }));
  secure.failWith(0);
  ASSERT_TRUE(eventually([&] { return metric(unhealthy_tls) == 0; }));
}

}  // namespace
}  // namespace portico::testing
