// The Kubernetes API source against test-apiserver (in-process, real HTTPS on port 0): initial
// sync, every kind of change, and every fault test-apiserver can inject.

#include "k8s/kube_source.h"
#include "apiserver/api_config.h"
#include "apiserver/server.h"
#include "http_client.h"
#include "metrics_text.h"
#include "temp_dir.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <mutex>

namespace portico::k8s {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using portico::testing::eventually;
using portico::testing::TempDir;

json service(const std::string& name, int port) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec", {{"ports", {{{"name", "http"}, {"port", port}}}}}}};
}

class KubeSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    startServer(0);
    client_ = std::make_unique<ApiClient>(apiserver::apiConfigFor(*server_, port_));
  }
  void startServer(std::uint16_t port) {
    apiserver::ServerOptions o;
    o.port = port;
    o.data_dir = dir_.path();
    o.bookmark_interval = bookmarks_;
    server_ = std::make_unique<apiserver::ApiServer>(o);
    port_ = server_->start();
  }
  void startSource() {
    source_ = std::make_unique<KubeSource>(
        apiserver::apiConfigFor(*server_, port_), "",
        [this](model::ClusterState s) {
          const std::lock_guard<std::mutex> lock(mutex_);
          state_ = std::move(s);
          ++publishes_;
        },
        [this] { synced_ = true; }, registry_);
    source_->start();
  }
  void TearDown() override {
    if (source_) {
      source_->stop();
    }
  }
  std::size_t services() {
    const std::lock_guard<std::mutex> lock(mutex_);
    return state_.services.size();
  }
  bool hasService(const std::string& key, int port) {
    const std::lock_guard<std::mutex> lock(mutex_);
    auto it = state_.services.find(key);
    return it != state_.services.end() && !it->second.ports.empty() &&
           it->second.ports[0].port == port;
  }
  void create(const json& obj) {
    auto r = client_->request("POST", "/api/v1/namespaces/default/services", obj.dump());
    ASSERT_TRUE(std::holds_alternative<ApiResponse>(r)) << std::get<ApiFailure>(r).toString();
  }
  void brokenAnswers(const std::string& kind);
  void test(const std::string& what) {
    auto r = client_->request("POST", "/_test/" + what);
    ASSERT_TRUE(std::holds_alternative<ApiResponse>(r)) << std::get<ApiFailure>(r).toString();
  }

  TempDir dir_;
  std::chrono::milliseconds bookmarks_ = 200ms;
  std::unique_ptr<apiserver::ApiServer> server_;
  std::uint16_t port_ = 0;
  std::unique_ptr<ApiClient> client_;
  metrics::Registry registry_;
  std::unique_ptr<KubeSource> source_;
  std::mutex mutex_;
  model::ClusterState state_;
  int publishes_ = 0;
  std::atomic<bool> synced_{false};
};

TEST_F(KubeSourceTest, SyncsThenFollowsChanges) {
  create(service("a", 80));
  startSource();
  ASSERT_TRUE(eventually([&] { return synced_.load(); }));
  EXPECT_TRUE(hasService("default/a", 80));
  create(service("b", 81));
  ASSERT_TRUE(eventually([&] { return hasService("default/b", 81); }));
  auto r = client_->request("PATCH", "/api/v1/namespaces/default/services/a",
                            R"({"spec":{"ports":[{"name":"http","port":90}]}})",
                            "application/merge-patch+json");
  ASSERT_TRUE(std::holds_alternative<ApiResponse>(r));
  ASSERT_TRUE(eventually([&] { return hasService("default/a", 90); }));
  client_->request("DELETE", "/api/v1/namespaces/default/services/b");
  ASSERT_TRUE(eventually([&] { return services() == 1; }));
}

TEST_F(KubeSourceTest, OnlyTlsSecretsAreKept) {
  startSource();
  ASSERT_TRUE(eventually([&] { return synced_.load(); }));
  for (const char* type : {"kubernetes.io/tls", "Opaque"}) {
    const json secret = {{"metadata", {{"name", std::string(type) == "Opaque" ? "opaque" : "tls"}}},
                         {"type", type},
                         {"data", {{"tls.crt", "Q0VSVA=="}}}};
    client_->request("POST", "/api/v1/namespaces/default/secrets", secret.dump());
  }
  ASSERT_TRUE(eventually([&] {
    const std::lock_guard<std::mutex> lock(mutex_);
    return state_.secrets.count("default/tls") == 1;
  }));
  const std::lock_guard<std::mutex> lock(mutex_);
  EXPECT_EQ(state_.secrets.count("default/opaque"), 0u);
}

TEST_F(KubeSourceTest, ClosedWatchesResumeWithoutRelist) {
  startSource();
  ASSERT_TRUE(eventually([&] { return synced_.load(); }));
  const auto lists = source_->lists();
  test("close-watches");
  create(service("after-close", 82));
  ASSERT_TRUE(eventually([&] { return hasService("default/after-close", 82); }));
  EXPECT_EQ(source_->lists(), lists);
}

TEST_F(KubeSourceTest, ExpiredHistoryRelistsAndLosesNothing) {
  startSource();
  ASSERT_TRUE(eventually([&] { return synced_.load(); }));
  const auto lists = source_->lists();
  // A change the watchers never hear of, then closed watches that come back to 410 Expired:
  // the reflectors relist, and the relist brings the change.
  test("drop-next-event");
  create(service("dropped", 83));
  test("expire-watches?count=5");
  test("close-watches");
  // The relists follow the 410s after a backoff; on a slow run (sanitizers) a watch opened
  // after the change may bring it first, so both are waited for, not one after the other.
  ASSERT_TRUE(eventually([&] { return source_->lists() > lists; }));
  ASSERT_TRUE(eventually([&] { return hasService("default/dropped", 83); }));
}

// A restarted kube-apiserver: its watch cache starts at the current version, so a watch from
// an older one gets 410, while etcd still serves a list at that older version exactly. Found by
// e2e/real: relisting at the lost version brought that version back, the watch from it got 410
// again, for ever. The relist is a consistent read (as client-go's), once per kind.
TEST_F(KubeSourceTest, ARestartedWatchCacheCostsOneRelistPerKind) {
  // No bookmarks: the Service reflector's version stays at its last Service event.
  bookmarks_ = 60s;
  server_.reset();
  startServer(0);
  client_ = std::make_unique<ApiClient>(apiserver::apiConfigFor(*server_, port_));
  startSource();
  ASSERT_TRUE(eventually([&] { return synced_.load(); }));
  create(service("a", 84));
  ASSERT_TRUE(eventually([&] { return hasService("default/a", 84); }));
  const json secret = {{"metadata", {{"name", "later"}}}, {"type", "Opaque"}};
  client_->request("POST", "/api/v1/namespaces/default/secrets", secret.dump());
  const auto lists = source_->lists();
  test("restart-watch-cache");
  test("close-watches");
  // Every kind but Secret (whose watch is at the newest version) relists once.
  ASSERT_TRUE(eventually([&] { return source_->lists() == lists + 4; })) << source_->lists();
  create(service("b", 85));
  ASSERT_TRUE(eventually([&] { return hasService("default/b", 85); }));
  EXPECT_EQ(source_->lists(), lists + 4);
}

TEST_F(KubeSourceTest, ServerErrorsAreRetriedWithBackoff) {
  test("fail?count=3");
  startSource();
  ASSERT_TRUE(eventually([&] { return synced_.load(); }, 30s));
  EXPECT_GE(testing::metricSum(registry_.expose(), "portico_api_errors_total"), 1.0);
  EXPECT_GE(testing::metricSum(registry_.expose(), "portico_watch_relists_total",
                               {"resource=\"services\""}),
            1.0);
}

// Answers that are not what was asked for (cut short, the wrong shape, not JSON) are reported
// and retried; nothing from them is applied, and the objects arrive once answers are whole.
void KubeSourceTest::brokenAnswers(const std::string& kind) {
  create(service("before", 87));
  test("garble?count=3&as=" + kind);
  startSource();
  ASSERT_TRUE(eventually([&] { return synced_.load(); }, 30s));
  EXPECT_TRUE(hasService("default/before", 87));
  EXPECT_EQ(services(), 1u);
  const std::string text = registry_.expose();
  EXPECT_GE(testing::metricSum(text, "portico_api_errors_total"), 3.0) << text;
  // And the source keeps following changes.
  create(service("after", 88));
  ASSERT_TRUE(eventually([&] { return hasService("default/after", 88); }, 30s));
}

TEST_F(KubeSourceTest, TruncatedAnswersAreReportedAndRetried) { brokenAnswers("truncated"); }
TEST_F(KubeSourceTest, ListsWhoseItemsAreNoArrayAreReported) { brokenAnswers("items-object"); }
TEST_F(KubeSourceTest, ListsOfItemsThatAreNoObjectsAreReported) {
  brokenAnswers("items-not-objects");
}
TEST_F(KubeSourceTest, AnswersThatAreNotJsonAreReported) { brokenAnswers("html"); }

TEST_F(KubeSourceTest, SlowAnswersStillArrive) {
  test("delay?ms=300");
  startSource();
  ASSERT_TRUE(eventually([&] { return synced_.load(); }, 30s));
  create(service("slow", 86));
  ASSERT_TRUE(eventually([&] { return hasService("default/slow", 86); }, 30s));
  test("delay?ms=0");
}

TEST_F(KubeSourceTest, WatchNamespaceRestrictsNamespacedKinds) {
  auto r = client_->request(
      "POST", "/api/v1/namespaces/other/services",
      json{{"metadata", {{"name", "elsewhere"}}}, {"spec", {{"ports", {{{"port", 80}}}}}}}.dump());
  ASSERT_TRUE(std::holds_alternative<ApiResponse>(r));
  create(service("here", 87));
  client_->request(
      "POST", "/apis/networking.k8s.io/v1/ingressclasses",
      R"({"metadata":{"name":"portico"},"spec":{"controller":"portico.dev/ingress-controller"}})");
  source_ = std::make_unique<KubeSource>(
      apiserver::apiConfigFor(*server_, port_), "default",
      [this](model::ClusterState s) {
        const std::lock_guard<std::mutex> lock(mutex_);
        state_ = std::move(s);
      },
      [this] { synced_ = true; }, registry_);
  source_->start();
  ASSERT_TRUE(eventually([&] { return synced_.load(); }));
  const std::lock_guard<std::mutex> lock(mutex_);
  EXPECT_EQ(state_.services.count("default/here"), 1u);
  EXPECT_EQ(state_.services.count("other/elsewhere"), 0u);
  EXPECT_EQ(state_.ingress_classes.count("portico"), 1u);  // cluster-scoped: still read
}

TEST_F(KubeSourceTest, SurvivesAnApiServerRestart) {
  create(service("before", 84));
  startSource();
  ASSERT_TRUE(eventually([&] { return hasService("default/before", 84); }));
  server_->stop();
  server_.reset();
  startServer(port_);  // same port, same data directory
  client_ = std::make_unique<ApiClient>(apiserver::apiConfigFor(*server_, port_));
  create(service("during", 85));
  ASSERT_TRUE(eventually([&] { return hasService("default/during", 85); }, 60s));
  EXPECT_TRUE(hasService("default/before", 84));
}

TEST(ApiClientTest, FailuresAreDecodedFromStatus) {
  TempDir dir;
  apiserver::ServerOptions o;
  o.data_dir = dir.path();
  apiserver::ApiServer server(o);
  const auto port = server.start();
  ApiConfig good = apiserver::apiConfigFor(server, port);
  ApiClient client(good);
  auto missing = client.request("GET", "/api/v1/namespaces/default/services/nope");
  ASSERT_TRUE(std::holds_alternative<ApiFailure>(missing));
  EXPECT_EQ(std::get<ApiFailure>(missing).toString(), "404 NotFound: services \"nope\" not found");
  ApiConfig bad_token = good;
  bad_token.token = "wrong";
  auto unauthorized = ApiClient(bad_token).request("GET", "/api/v1/services");
  EXPECT_EQ(std::get<ApiFailure>(unauthorized).toString(), "401 Unauthorized: Unauthorized");
  ApiConfig bad_ca = good;
  bad_ca.ca_pem = "";  // the system roots do not know test-apiserver's CA
  auto untrusted = ApiClient(bad_ca).request("GET", "/api/v1/services");
  ASSERT_TRUE(std::holds_alternative<ApiFailure>(untrusted));
  EXPECT_EQ(std::get<ApiFailure>(untrusted).status, 0);
  EXPECT_EQ(urlEncode("a=b,c in (d)"), "a%3Db%2Cc%20in%20%28d%29");
}

}  // namespace
}  // namespace portico::k8s
