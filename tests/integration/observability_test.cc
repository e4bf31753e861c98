// The proxy's metrics and access logs with real listeners and backends: per-route series keyed
// by the rule (never by what the client sent), connection states, upstream errors by reason,
// access log lines as JSON and in nginx's format, and a slow log reader that costs lines, not
// requests.

#include "proxy_fixture.h"

#include <unistd.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>

#include <map>
#include <mutex>
#include <sstream>
#include <thread>

namespace portico::testing {
namespace {

using namespace std::chrono_literals;

// Reads the access log's pipe on a thread of its own.
class LogPipe {
 public:
  LogPipe() {
    EXPECT_EQ(::pipe(fds_), 0);
    reader_ = std::thread([this] {
      char buf[8192];
      ssize_t n;
      while ((n = ::read(fds_[0], buf, sizeof(buf))) > 0) {
        const std::lock_guard<std::mutex> lock(mutex_);
        text_.append(buf, static_cast<std::size_t>(n));
      }
    });
  }
  ~LogPipe() {
    closeWriter();
    reader_.join();
    ::close(fds_[0]);
  }
  int writer() const { return fds_[1]; }
  void closeWriter() {
    if (fds_[1] >= 0) {
      ::close(fds_[1]);
      fds_[1] = -1;
    }
  }
  std::vector<std::string> lines() {
    const std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> out;
    std::istringstream in(text_);
    for (std::string l; std::getline(in, l);) {
      out.push_back(l);
    }
    return out;
  }

 private:
  int fds_[2] = {-1, -1};
  std::thread reader_;
  std::mutex mutex_;
  std::string text_;
};

proxy::ProxyConfig withLog(proxy::AccessLogFormat format, int fd, std::size_t ring = 1 << 20) {
  proxy::ProxyConfig c = ProxyFixture::defaultConfig();
  c.access_log = format;
  c.access_log_fd = fd;
  c.access_log_buffer = ring;
  return c;
}

class ObservabilityTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NE(web_.start(), 0); }
  std::string config() {
    return loopbackService("web", {web_.port()}) + loopbackService("dead", {}) +
           IngressYaml("site").rule("web.test").prefix("/", "web").prefix("/api/", "web").str() +
           IngressYaml("gone").rule("gone.test").prefix("/", "dead").str();
  }
  double sum(ProxyFixture& p, const std::string& name, const std::vector<std::string>& has) {
    return metricSum(p.registry().expose(), name, has);
  }
  // A request is counted when its exchange ends, which may be just after the client read its
  // answer: counts are waited for.
  bool has(ProxyFixture& p, const std::string& name, const std::vector<std::string>& labels,
           double want) {
    const bool ok = eventually([&] { return sum(p, name, labels) == want; });
    if (!ok) {
      ADD_FAILURE() << name << " with " << ::testing::PrintToString(labels) << ": "
                    << sum(p, name, labels) << ", wanted " << want;
    }
    return ok;
  }
  EchoBackend web_{"web"};
};

TEST_F(ObservabilityTest, RequestsAreCountedByTheRuleTheyMatched) {
  ProxyFixture p;
  p.publish(config());
  for (const char* target : {"/", "/x/y?z=1", "/api/orders", "/api"}) {
    EXPECT_EQ(get(p.port(), "web.test", target).status, 200);
  }
  EXPECT_EQ(get(p.port(), "gone.test", "/").status, 503);
  const std::string site =
      "namespace=\"default\",ingress=\"site\",service=\"web\",host=\"web.test\",";
  ASSERT_TRUE(eventually([&] {
    return sum(p, "portico_requests_total", {site + "path=\"/\"", "status=\"200\""}) == 2;
  })) << p.registry().expose();
  // "/api" matches the "/api/" rule too (Prefix is per path element): the rule's path,
  // normalised, never the request's.
  has(p, "portico_requests_total", {site + "path=\"/api\"", "method=\"GET\""}, 2);
  has(p, "portico_requests_total", {"ingress=\"gone\"", "status=\"503\""}, 1);
  has(p, "portico_upstream_errors_total", {"reason=\"no_endpoint\""}, 1);
  // Histograms per route; the upstream ones only where an upstream answered.
  has(p, "portico_request_duration_seconds_count", {site + "path=\"/\""}, 2);
  has(p, "portico_upstream_response_duration_seconds_count", {site + "path=\"/\""}, 2);
  has(p, "portico_upstream_response_duration_seconds_count", {"ingress=\"gone\""}, 0);
  EXPECT_GT(sum(p, "portico_response_size_bytes_sum", {site + "path=\"/\""}), 200);
  EXPECT_GT(sum(p, "portico_request_size_bytes_sum", {site + "path=\"/\""}), 60);
}

TEST_F(ObservabilityTest, HostileHostsAndPathsShareOneSeries) {
  ProxyFixture p;
  p.publish(config());
  // A scanner's random hosts and paths, and malformed requests: none gets a series of its own.
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(
        get(p.port(), "h" + std::to_string(i) + ".evil.test", "/p" + std::to_string(i)).status,
        404);
  }
  Connection bad(p.port());
  ASSERT_TRUE(bad.writeRaw("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"));
  EXPECT_EQ(bad.readResponse().status, 400);
  const std::string unmatched =
      "namespace=\"\",ingress=\"\",service=\"\",host=\"_\",path=\"\",method=\"GET\",";
  ASSERT_TRUE(eventually([&] {
    return sum(p, "portico_requests_total", {unmatched + "status=\"404\""}) == 50 &&
           sum(p, "portico_requests_total", {unmatched + "status=\"400\""}) == 1;
  }));
  const std::string text = p.registry().expose();
  EXPECT_EQ(text.find("evil"), std::string::npos);
  EXPECT_EQ(text.find("/p1"), std::string::npos);
}

TEST_F(ObservabilityTest, ConnectionsAreCountedByState) {
  ProxyFixture p;
  p.publish(config());
  Connection idle(p.port());
  EXPECT_EQ(idle.send({"GET", "/", "web.test"}).status, 200);  // keep-alive: now idle
  Connection reading(p.port());
  ASSERT_TRUE(reading.writeRaw("GET / HTTP/1.1\r\nHost: web.test\r\n"));  // a head half sent
  ASSERT_TRUE(eventually([&] {
    return sum(p, "portico_connections", {"state=\"idle\""}) == 1 &&
           sum(p, "portico_connections", {"state=\"reading\""}) == 1 &&
           sum(p, "portico_connections", {"state=\"active\""}) == 2;
  }));
  has(p, "portico_connections", {"state=\"writing\""}, 0);
}

TEST_F(ObservabilityTest, RouteSeriesGoAwayWithTheirRule) {
  ProxyFixture p;
  p.publish(config());
  EXPECT_EQ(get(p.port(), "gone.test", "/").status, 503);
  ASSERT_TRUE(eventually([&] { return sum(p, "portico_requests_total", {"ingress=\"gone\""}); }));
  p.publish(loopbackService("web", {web_.port()}) +
            IngressYaml("site").rule("web.test").prefix("/", "web").str());
  EXPECT_EQ(p.registry().expose().find("ingress=\"gone\""), std::string::npos);
}

// Series are found again by their labels at each publish: a rule whose labels stay keeps
// counting through changes of other Ingresses (target group indexes shifting under a weighted
// forward included), and a rule whose service changed counts under its new service.
TEST_F(ObservabilityTest, SeriesKeepCountingThroughOtherChanges) {
  EchoBackend other("other");
  ASSERT_NE(other.start(), 0);
  const std::string split = IngressYaml("split")
                                .meta(R"(  annotations:
    portico.dev/actions.both: >-
      {"type": "forward", "forwardConfig": {"targetGroups": [
        {"serviceName": "sa", "servicePort": 80, "weight": 50},
        {"serviceName": "sb", "servicePort": 80, "weight": 50}]}}
)")
                                .spec(R"(  rules:
  - host: split.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: both, port: {name: use-annotation}}}}
)")
                                .str();
  const std::string base = loopbackService("sa", {web_.port()}) +
                           loopbackService("sb", {other.port()}) + split +
                           IngressYaml("site").rule("web.test").prefix("/", "sa").str();
  ProxyFixture p;
  p.publish(base);
  const std::string both =
      "namespace=\"default\",ingress=\"split\",service=\"sb\",host=\"split.test\"";
  // Each response names its backend: web_ is service sa, other is service sb.
  std::map<std::string, double> served;
  const auto hit = [&](int n) {
    for (int i = 0; i < n; ++i) {
      const HttpResponse r = get(p.port(), "split.test", "/");
      ASSERT_EQ(r.status, 200);
      ++served[r.header("x-backend-name") == "other" ? "sb" : "sa"];
    }
  };
  hit(20);
  EXPECT_EQ(get(p.port(), "web.test", "/").status, 200);
  ASSERT_TRUE(
      has(p, "portico_requests_total", {"service=\"sb\"", "host=\"split.test\""}, served["sb"]));
  ASSERT_GT(served["sa"], 0);
  ASSERT_GT(served["sb"], 0);
  // An Ingress whose service sorts first: every target group index moves up by one.
  p.publish(loopbackService("a0", {web_.port()}) + base +
            IngressYaml("first").rule("a.test").prefix("/", "a0").str());
  hit(20);
  EXPECT_EQ(get(p.port(), "web.test", "/").status, 200);
  has(p, "portico_requests_total", {"ingress=\"split\"", "service=\"sa\""}, served["sa"]);
  has(p, "portico_requests_total", {"ingress=\"split\"", "service=\"sb\""}, served["sb"]);
  has(p, "portico_requests_total", {"ingress=\"site\"", "service=\"sa\""}, 2);
  EXPECT_EQ(sum(p, "portico_requests_total", {both}), served["sb"]);
  // The site's rule now sends to sb: its series are sb's, and the sa one is gone.
  p.publish(loopbackService("sa", {web_.port()}) + loopbackService("sb", {other.port()}) + split +
            IngressYaml("site").rule("web.test").prefix("/", "sb").str());
  EXPECT_EQ(get(p.port(), "web.test", "/").status, 200);
  has(p, "portico_requests_total", {"ingress=\"site\"", "service=\"sb\""}, 1);
  EXPECT_EQ(p.registry().expose().find("ingress=\"site\",service=\"sa\""), std::string::npos);
  has(p, "portico_requests_total", {"ingress=\"split\""}, 40);
}

TEST_F(ObservabilityTest, JsonAccessLogLines) {
  LogPipe log;
  {
    ProxyFixture p(withLog(proxy::AccessLogFormat::kJson, log.writer()));
    p.publish(config());
    EXPECT_EQ(get(p.port(), "web.test", "/api/x?q=\"1\"").status, 200);
    EXPECT_EQ(get(p.port(), "nowhere.test", "/").status, 404);
    HttpRequest with_id{"POST", "/", "web.test", {{"X-Request-Id", "client-id-1"}}, "hello"};
    EXPECT_EQ(request(p.port(), with_id).status, 200);
    // A response can reach the client before its exchange ends (and logs): stopping the server
    // abruptly then would lose the line. A draining server waits for its exchanges.
    ASSERT_TRUE(has(p, "portico_worker_requests_total", {}, 3));
  }  // stopping writes what is buffered
  log.closeWriter();
  ASSERT_TRUE(eventually([&] { return log.lines().size() == 3; }));
  const auto lines = log.lines();
  std::vector<nlohmann::json> j;
  for (const auto& l : lines) {
    j.push_back(nlohmann::json::parse(l));
  }
  std::sort(j.begin(), j.end(), [](const auto& a, const auto& b) { return a["time"] < b["time"]; });
  const auto* fwd = &j[0];
  for (const auto& e : j) {
    if (e["path"] == "/api/x?q=\"1\"") {
      fwd = &e;
    }
  }
  EXPECT_EQ((*fwd)["status"], 200);
  EXPECT_EQ((*fwd)["host"], "web.test");
  EXPECT_EQ((*fwd)["ingress"], "site");
  EXPECT_EQ((*fwd)["namespace"], "default");
  EXPECT_EQ((*fwd)["service"], "web");
  EXPECT_EQ((*fwd)["upstream"], "127.0.0.1:" + std::to_string(web_.port()));
  EXPECT_EQ((*fwd)["upstream_status"], 200);
  EXPECT_EQ((*fwd)["request_id"].get<std::string>().size(), 32u);  // the one sent upstream
  EXPECT_EQ((*fwd)["client"], "127.0.0.1");
  EXPECT_GT((*fwd)["bytes_out"].get<int>(), 100);
  bool saw_404 = false;
  bool saw_id = false;
  for (const auto& e : j) {
    if (e["status"] == 404) {
      saw_404 = true;
      EXPECT_EQ(e["ingress"], "");
      EXPECT_TRUE(e["upstream_status"].is_null());
    }
    if (e["request_id"] == "client-id-1") {
      saw_id = true;
      EXPECT_EQ(e["method"], "POST");
      EXPECT_GE(e["bytes_in"].get<int>(), 5 + 40);  // head and body
    }
  }
  EXPECT_TRUE(saw_404);
  EXPECT_TRUE(saw_id);
}

TEST_F(ObservabilityTest, NginxAccessLogLines) {
  LogPipe log;
  {
    ProxyFixture p(withLog(proxy::AccessLogFormat::kNginx, log.writer()));
    p.publish(config());
    // obs-text and a quote in a field value (both allowed by RFC 9110) are escaped as nginx does.
    HttpRequest r{
        "GET", "/", "web.test", {{"User-Agent", "probe/1 \xff\""}, {"Referer", "http://r/"}}};
    EXPECT_EQ(request(p.port(), r).status, 200);
    ASSERT_TRUE(has(p, "portico_worker_requests_total", {}, 1));
  }
  log.closeWriter();
  ASSERT_TRUE(eventually([&] { return log.lines().size() == 1; }));
  const std::string line = log.lines()[0];
  EXPECT_EQ(line.rfind("127.0.0.1 - - [", 0), 0u) << line;
  EXPECT_NE(line.find("] \"GET / HTTP/1.1\" 200 "), std::string::npos) << line;
  EXPECT_NE(line.find(" \"http://r/\" \"probe/1 \\xff\\x22\" "), std::string::npos) << line;
  EXPECT_NE(line.find(" [default/web:80] [] 127.0.0.1:" + std::to_string(web_.port()) + " "),
            std::string::npos)
      << line;
}

TEST_F(ObservabilityTest, ASlowLogReaderCostsLinesNotRequests) {
  // Nobody reads this pipe: once it and the ring are full, lines are dropped and counted, and
  // requests go on at full speed.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ::fcntl(fds[1], F_SETPIPE_SZ, 4096);
  {
    ProxyFixture p(withLog(proxy::AccessLogFormat::kJson, fds[1], 4096));
    p.publish(config());
    Connection c(p.port());
    for (int i = 0; i < 400; ++i) {
      ASSERT_EQ(c.send({"GET", "/", "web.test"}).status, 200);
    }
    EXPECT_TRUE(
        eventually([&] { return sum(p, "portico_access_log_dropped_lines_total", {}) > 0; }));
    has(p, "portico_requests_total", {"ingress=\"site\""}, 400);
    // Reading the pipe lets the writer finish (its last write on stop blocks until read).
    std::thread drain([&] {
      char buf[4096];
      while (::read(fds[0], buf, sizeof(buf)) > 0) {
      }
    });
    p.server().stop();
    ::close(fds[1]);
    drain.join();
  }
  ::close(fds[0]);
}

}  // namespace
}  // namespace portico::testing
