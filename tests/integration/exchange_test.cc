// The exchange against a scripted UpstreamConnector (CONVENTIONS.md rule 1): connect outcomes
// are chosen per endpoint, instantly, so retries, timeouts and their limits are tested without
// waiting for real timeouts. Endpoints that the script lets through get real connections to
// echo backends.

#include "proxy/upstream_connector.h"
#include "proxy_fixture.h"

#include <nlohmann/json.hpp>

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
  ScriptedConnector(net::io_context& ioc, proxy::UpstreamPool& pool,
                    std::shared_ptr<Script> script)
      : ioc_(ioc), real_(ioc, pool), script_(std::move(script)) {}
  proxy::UpstreamConnPtr reuse(const runtime::EndpointState&) override { return nullptr; }
  proxy::UpstreamConnPtr connect(const runtime::EndpointState& endpoint,
                                 std::chrono::milliseconds timeout,
                                 std::function<void(error_code)> done) override {
    switch (script_->outcomeFor(endpoint.endpoint.port)) {
      case Outcome::kReal:
        return real_.connect(endpoint, timeout, std::move(done));
      case Outcome::kRefuse:
        net::post(ioc_, [done] { done(net::error::connection_refused); });
        break;
      case Outcome::kTimeout:
        net::post(ioc_, [done] { done(proxy::beast::error::timeout); });
        break;
    }
    return std::make_shared<proxy::UpstreamConn>(ioc_);
  }
  void release(proxy::UpstreamConnPtr) override {}  // every request connects: all are counted

 private:
  net::io_context& ioc_;
  proxy::PooledConnector real_;
  std::shared_ptr<Script> script_;
};

class ExchangeTest : public ::testing::Test {
 protected:
  ExchangeTest() {
    proxy::ServerOptions options;
    options.seed = 42;
    options.connector = [script = script_](net::io_context& ioc, proxy::UpstreamPool& pool) {
      return std::make_unique<ScriptedConnector>(ioc, pool, script);
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

}  // namespace
}  // namespace portico::testing
