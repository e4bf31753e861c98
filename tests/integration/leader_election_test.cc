// Leader election and the status writer against test-apiserver.
#include "k8s/leader_election.h"
#include "apiserver/api_config.h"
#include "apiserver/server.h"
#include "http_client.h"
#include "k8s/status_writer.h"
#include "temp_dir.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <thread>

namespace portico::k8s {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using portico::testing::eventually;
using portico::testing::TempDir;

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    apiserver::ServerOptions o;
    o.data_dir = dir_.path();
    server_ = std::make_unique<apiserver::ApiServer>(o);
    port_ = server_->start();
  }
  ApiConfig config() { return apiserver::apiConfigFor(*server_, port_); }
  TempDir dir_;
  std::unique_ptr<apiserver::ApiServer> server_;
  std::uint16_t port_ = 0;
};

LeaderElectionOptions fast(const std::string& identity) {
  LeaderElectionOptions o;
  o.ns = "default";
  o.name = "portico-leader";
  o.identity = identity;
  // Short, and still wide enough that a renewal slowed by a loaded 2-core CI machine (ctest -j2)
  // does not lose the lease: the test checks that nothing changes hands while the leader renews.
  o.lease_duration = 3000ms;
  o.renew_deadline = 2000ms;
  o.retry_period = 100ms;
  return o;
}

TEST_F(ApiTest, OneLeaderAtATimeAndAQuickHandOver) {
  ApiClient client_a(config()), client_b(config());
  std::atomic<int> leaders{0};
  std::atomic<int> most{0};
  auto track = [&](bool leading) {
    const int n = leading ? ++leaders : --leaders;
    most = std::max(most.load(), n);
  };
  LeaderElector a(client_a, fast("a"), track);
  LeaderElector b(client_b, fast("b"), track);
  std::thread ta([&] { a.run(); });
  std::thread tb([&] { b.run(); });
  ASSERT_TRUE(eventually([&] { return a.leading() || b.leading(); }));
  LeaderElector& leader = a.leading() ? a : b;
  LeaderElector& follower = a.leading() ? b : a;
  std::thread& leader_thread = a.leading() ? ta : tb;
  // The follower stays a follower while the leader renews.
  EXPECT_FALSE(eventually([&] { return follower.leading(); }, 800ms));
  // Stopping releases the lease: the follower takes over well within a lease duration (3 s;
  // without the release it would wait that long).
  const auto stopped = std::chrono::steady_clock::now();
  leader.stop();
  leader_thread.join();
  ASSERT_TRUE(eventually([&] { return follower.leading(); }, 5s));
  EXPECT_LT(std::chrono::steady_clock::now() - stopped, 2000ms);
  follower.stop();
  if (ta.joinable()) {
    ta.join();
  }
  if (tb.joinable()) {
    tb.join();
  }
  EXPECT_EQ(most.load(), 1);
  auto lease = ApiClient(config()).request(
      "GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases/portico-leader");
  ASSERT_TRUE(std::holds_alternative<ApiResponse>(lease));
  const auto spec = json::parse(std::get<ApiResponse>(lease).body)["spec"];
  EXPECT_EQ(spec["holderIdentity"], "");  // released
  EXPECT_GE(spec["leaseTransitions"].get<int>(), 1);
}

TEST(StatusAddresses, FlagsThenServiceThenClusterIp) {
  model::ClusterState state;
  model::Service svc;
  svc.meta.namespace_ = "ingress";
  svc.meta.name = "portico";
  svc.cluster_ip = "10.96.0.10";
  state.upsert(svc);
  StatusOptions o;
  o.publish_addresses = {"192.0.2.1", "lb.example.com"};
  EXPECT_EQ(StatusWriter::addresses(o, state),
            (std::vector<model::LoadBalancerIngress>{{"192.0.2.1", ""}, {"", "lb.example.com"}}));
  o.publish_addresses.clear();
  o.publish_service = "ingress/portico";
  EXPECT_EQ(StatusWriter::addresses(o, state),
            (std::vector<model::LoadBalancerIngress>{{"10.96.0.10", ""}}));
  svc.load_balancer = {{"203.0.113.5", ""}};
  state.upsert(svc);
  EXPECT_EQ(StatusWriter::addresses(o, state),
            (std::vector<model::LoadBalancerIngress>{{"203.0.113.5", ""}}));
  o.publish_service = "ingress/missing";
  EXPECT_TRUE(StatusWriter::addresses(o, state).empty());
}

}  // namespace
}  // namespace portico::k8s
