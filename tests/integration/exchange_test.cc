// The exchange against a scripted UpstreamConnector (CONVENTIONS.md rule 1): connect outcomes
// are chosen per endpoint, instantly, so retries, timeouts and their limits are tested without
// waiting for real timeouts. Endpoints that the script lets through get real connections to
// echo backends.

#include "proxy/upstream_connector.h"
#include "proxy_fixture.h"

#include <nlohmann/json.hpp>

#include <future>
#include <mutex>

namespace portico::testing {
namespace {

using namespace std::chrono_literals;
namespace net = proxy::net;
using proxy::error_code;

enum class Outcome { kReal, kRefuse, kTimeout };

struct Script {
  std::mutex mutex;
  std::map<std::uint16_t, Outcome> by_port;  // absent: kReal
  std::vector<std::uint16_t> attempts;       // ports, in the order connects were asked for
  Outcome outcomeFor(std::uint16_t port) {
    std::lock_guard<std::mutex> lock(mutex);
    attempts.push_back(port);
    auto it = by_port.find(port);
    return it == by_port.end() ? Outcome::kReal : it->second;
  }
  std::vector<std::uint16_t> seen() {
    std::lock_guard<std::mutex> lock(mutex);
    return attempts;
  }
};

class ScriptedConnector final : public proxy::UpstreamConnector {
 public:
  ScriptedConnector(proxy::Deadlines& deadlines, proxy::UpstreamPool& pool,
                    std::shared_ptr<Script> script)
      : deadlines_(deadlines), real_(deadlines, pool), script_(std::move(script)) {}
  proxy::UpstreamConnPtr reuse(const runtime::EndpointState&,
                               const runtime::UpstreamTls*) override {
    return nullptr;
  }
  proxy::UpstreamConnPtr connect(const runtime::EndpointState& endpoint,
                                 const runtime::UpstreamTls* tls, std::chrono::milliseconds timeout,
                                 std::function<void(error_code)> done) override {
    switch (script_->outcomeFor(endpoint.endpoint.port)) {
      case Outcome::kReal:
        return real_.connect(endpoint, tls, timeout, std::move(done));
      case Outcome::kRefuse:
        net::post(deadlines_.context(), [done] { done(net::error::connection_refused); });
        break;
      case Outcome::kTimeout:
        net::post(deadlines_.context(), [done] { done(proxy::beast::error::timeout); });
        break;
    }
    return std::make_shared<proxy::UpstreamConn>(deadlines_);
  }
  void release(proxy::UpstreamConnPtr) override {}  // every request connects: all are counted

 private:
  proxy::Deadlines& deadlines_;
  proxy::PooledConnector real_;
  std::shared_ptr<Script> script_;
};

class ExchangeTest : public ::testing::Test {
 protected:
  ExchangeTest() {
    proxy::ServerOptions options;
    options.seed = 42;
    options.connector = [script = script_](proxy::Deadlines& d, proxy::UpstreamPool& pool) {
      return std::make_unique<ScriptedConnector>(d, pool, script);
    };
    auto config = ProxyFixture::defaultConfig();
    config.workers = 1;
    proxy_ = std::make_unique<ProxyFixture>(config, options);
  }
  void SetUp() override { ASSERT_NE(good_.start(), 0); }
  void route(const std::vector<std::uint16_t>& ports) {
    proxy_->publish(loopbackService("svc", ports) + simpleIngress("ing", "x.test", "/", "svc"));
  }
  std::shared_ptr<Script> script_ = std::make_shared<Script>();
  EchoBackend good_{"good"};
  std::unique_ptr<ProxyFixture> proxy_;
};

constexpr std::uint16_t kBadA = 1;  // never dialled: the script decides
constexpr std::uint16_t kBadB = 2;

TEST_F(ExchangeTest, ATimedOutConnectGoesToTheNextEndpointLikeARefusedOne) {
  for (Outcome outcome : {Outcome::kTimeout, Outcome::kRefuse}) {
    script_->by_port = {{kBadA, outcome}};
    route({kBadA, good_.port()});
    const auto r = get(proxy_->port(), "x.test", "/");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("x-backend-name"), "good");
  }
  const auto seen = script_->seen();
  ASSERT_GE(seen.size(), 2u);
  EXPECT_EQ(std::count(seen.begin(), seen.end(), good_.port()), 2);
}

TEST_F(ExchangeTest, ABodyIsNotLostWhenTheFirstConnectFails) {
  script_->by_port = {{kBadA, Outcome::kTimeout}};
  route({kBadA, good_.port()});
  HttpRequest req;
  req.method = "POST";
  req.host = "x.test";
  req.body = std::string(100000, 'p');
  const auto r = request(proxy_->port(), req);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(nlohmann::json::parse(r.body)["bodyBytes"], 100000);
}

TEST_F(ExchangeTest, AttemptsAreBoundedAndTheLastFailureNamesTheStatus) {
  script_->by_port = {{kBadA, Outcome::kTimeout}, {kBadB, Outcome::kTimeout}};
  route({kBadA, kBadB});
  EXPECT_EQ(get(proxy_->port(), "x.test", "/").status, 504);
  EXPECT_EQ(script_->seen().size(), 3u);  // --upstream-max-attempts
  script_->by_port = {{kBadA, Outcome::kRefuse}, {kBadB, Outcome::kTimeout}};
  route({kBadA, kBadB});
  const auto before = script_->seen().size();
  const auto status = get(proxy_->port(), "x.test", "/").status;
  EXPECT_TRUE(status == 502 || status == 504) << status;  // the cause of the last attempt
  EXPECT_EQ(script_->seen().size() - before, 3u);
}

// A header deadline that was due while the worker was busy must not cancel a later read when
// the head arrived in time (the first slice's timer could abort the body read: the client got
// a closed connection). Deterministic: Asio runs a descriptor's handler before the timer
// handlers of the same poll, so a blocked worker that wakes to both a readable socket and a due
// deadline sweep parses the head first (which clears the header deadline) and sweeps after it;
// the sweep reads each stream's deadline as it is then, so it finds nothing due.
TEST(HeaderTimer, AStaleExpiryDoesNotAbortTheBodyRead) {
  EchoBackend backend("e");
  ASSERT_NE(backend.start(), 0);
  std::atomic<net::io_context*> worker_ioc{nullptr};
  proxy::ServerOptions options;
  options.connector = [&](proxy::Deadlines& d, proxy::UpstreamPool& pool) {
    worker_ioc = &d.context();
    return std::make_unique<proxy::PooledConnector>(d, pool);
  };
  auto config = ProxyFixture::defaultConfig();
  config.workers = 1;
  config.client_header_timeout = 50ms;
  ProxyFixture proxy(config, options);
  proxy.publish(loopbackService("svc", {backend.port()}) +
                simpleIngress("ing", "x.test", "/", "svc"));
  ASSERT_EQ(get(proxy.port(), "x.test", "/warm").status, 200);  // a pooled upstream connection
  ASSERT_TRUE(eventually([&] { return proxy.server().activeConnections() == 0; }));

  Connection c(proxy.port());
  ASSERT_TRUE(eventually([&] { return proxy.server().activeConnections() == 1; }));
  const auto armed_by = std::chrono::steady_clock::now();  // the header deadline runs from here
  std::promise<void> unblock;
  std::atomic<bool> blocked{false};
  net::post(*worker_ioc.load(), [&] {
    blocked = true;
    unblock.get_future().wait();
  });
  ASSERT_TRUE(eventually([&] { return blocked.load(); }));
  ASSERT_TRUE(eventually([&] {
    return std::chrono::steady_clock::now() - armed_by > config.client_header_timeout * 3;
  }));
  ASSERT_TRUE(c.writeRaw("POST /t HTTP/1.1\r\nHost: x.test\r\nContent-Length: 4\r\n\r\n"));
  unblock.set_value();
  // The head arrived in time (it was read in the same poll as the expiry): the body follows.
  ASSERT_TRUE(eventually([&] { return backend.requestCount() == 2; }));
  ASSERT_TRUE(c.writeRaw("body"));
  const auto r = c.readResponse();
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(nlohmann::json::parse(r.body.empty() ? "{}" : r.body).value("bodyBytes", 0), 4);
}

}  // namespace
}  // namespace portico::testing
