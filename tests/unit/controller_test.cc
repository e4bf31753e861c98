#include "controller/controller.h"
#include "http_client.h"
#include "test_state.h"

#include <gtest/gtest.h>

#include <mutex>

namespace portico::controller {
namespace {

using namespace std::chrono_literals;
using portico::testing::eventually;
using portico::testing::serviceYaml;
using portico::testing::stateFromYaml;

using portico::testing::kWebIngress;
const std::string& kIngress = kWebIngress;

struct Published {
  std::mutex mutex;
  std::vector<std::shared_ptr<const snapshot::Snapshot>> snapshots;
  std::size_t count() {
    const std::lock_guard<std::mutex> lock(mutex);
    return snapshots.size();
  }
  std::shared_ptr<const snapshot::Snapshot> last() {
    const std::lock_guard<std::mutex> lock(mutex);
    return snapshots.empty() ? nullptr : snapshots.back();
  }
};

class ControllerTest : public ::testing::Test {
 protected:
  ControllerTest()
      : controller_(
            {},
            [this](auto s) {
              const std::lock_guard<std::mutex> lock(published_.mutex);
              published_.snapshots.push_back(std::move(s));
            },
            registry_, Debounce{10ms, 100ms}) {
    controller_.start();
  }
  metrics::Registry registry_;
  Published published_;
  Controller controller_;
};

TEST_F(ControllerTest, NothingIsCompiledBeforeSync) {
  controller_.setState(stateFromYaml(serviceYaml("web", {"10.0.0.1"}) + kIngress), {});
  // Give the loop a real chance to (wrongly) compile: wait for something that cannot happen.
  EXPECT_FALSE(eventually([&] { return published_.count() > 0; }, 200ms));
  controller_.markSynced();
  ASSERT_TRUE(eventually([&] { return published_.count() == 1; }));
  EXPECT_EQ(published_.last()->routeCount(), 1u);
  // The generation counts after the publish returns.
  EXPECT_TRUE(eventually([&] { return controller_.generation() == 1u; }));
}

TEST_F(ControllerTest, SameStateIsNotRecompiledAndChangesAre) {
  controller_.markSynced();
  const auto state = stateFromYaml(serviceYaml("web", {"10.0.0.1"}) + kIngress);
  controller_.setState(state, {});
  ASSERT_TRUE(eventually([&] { return published_.count() == 1; }));
  controller_.setState(state, {});
  controller_.setState(stateFromYaml(serviceYaml("web", {"10.0.0.1", "10.0.0.2"}) + kIngress), {});
  ASSERT_TRUE(eventually([&] {
    auto s = published_.last();
    return s && s->targetGroups().size() == 1 && s->targetGroups()[0].endpoints.size() == 2;
  }));
  EXPECT_LE(published_.count(), 3u);
}

TEST_F(ControllerTest, DiagnosticsAreKeptAndCounted) {
  controller_.markSynced();
  controller_.setState(stateFromYaml(kIngress), {"bad.yaml: invalid YAML"});
  ASSERT_TRUE(eventually([&] { return published_.count() == 1; }));
  const auto diags = controller_.diagnostics();
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags[0].message, "Service default/web not found");
  const std::string text = registry_.expose();
  EXPECT_NE(text.find("portico_config_diagnostics 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("portico_source_errors 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("portico_snapshot_generation 1\n"), std::string::npos) << text;
}

TEST_F(ControllerTest, BurstsAreCoalesced) {
  controller_.markSynced();
  for (int i = 1; i <= 50; ++i) {
    std::vector<std::string> addrs;
    for (int j = 0; j < i; ++j) {
      addrs.push_back("10.0.0." + std::to_string(j + 1));
    }
    controller_.setState(stateFromYaml(serviceYaml("web", addrs) + kIngress), {});
  }
  ASSERT_TRUE(eventually([&] {
    auto s = published_.last();
    return s && s->targetGroups()[0].endpoints.size() == 50;
  }));
  EXPECT_LT(published_.count(), 50u);  // one compile per holdoff, not one per change
}

}  // namespace
}  // namespace portico::controller
