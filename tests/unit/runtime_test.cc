#include "runtime/runtime_state.h"

#include "test_state.h"

#include <gtest/gtest.h>

#include <type_traits>

namespace portico::runtime {
namespace {

using snapshot::Endpoint;
using snapshot::TargetGroup;

using portico::testing::snapshotOf;

TEST(RuntimeState, EndpointStateSurvivesARecompileByStableKey) {
  RuntimeState rt;
  auto first = rt.bind(snapshotOf({{"ns/a:80", {{"10.0.0.1", 80}, {"10.0.0.2", 80}}}}));
  EndpointState& kept = *first->target_groups[0].endpoints[1];
  kept.health = kFailedActiveCheck;
  kept.requests = 41;
  // A new snapshot: another group first, 10.0.0.1 gone, 10.0.0.3 new.
  auto second = rt.bind(snapshotOf(
      {{"ns/0:80", {{"10.0.0.2", 80}}}, {"ns/a:80", {{"10.0.0.2", 80}, {"10.0.0.3", 80}}}}));
  ASSERT_EQ(second->target_groups.size(), 2u);
  EXPECT_EQ(second->target_groups[1].endpoints[0].get(), &kept);  // same object, same health
  EXPECT_EQ(kept.health.load(), kFailedActiveCheck);
  EXPECT_EQ(kept.requests.load(), 41u);
  EXPECT_TRUE(second->target_groups[1].endpoints[1]->healthy());  // new: fresh state
  // The same pod in another target group has its own state but shares the pool id.
  EXPECT_NE(second->target_groups[0].endpoints[0].get(), &kept);
  EXPECT_EQ(second->target_groups[0].endpoints[0]->pool_id, kept.pool_id);
  EXPECT_EQ(rt.endpointCount(), 3u);
  EXPECT_GT(second->generation, first->generation);
}

TEST(RuntimeState, PoolIdsAreDenseStableAndListed) {
  RuntimeState rt;
  auto a = rt.bind(snapshotOf({{"t", {{"10.0.0.1", 80}, {"10.0.0.2", 80}}}}));
  const auto id1 = a->target_groups[0].endpoints[0]->pool_id;
  const auto id2 = a->target_groups[0].endpoints[1]->pool_id;
  EXPECT_NE(id1, id2);
  EXPECT_EQ(a->pool_ids, (std::vector<std::uint32_t>{std::min(id1, id2), std::max(id1, id2)}));
  auto b = rt.bind(snapshotOf({{"t", {{"10.0.0.2", 80}}}}));
  EXPECT_EQ(b->target_groups[0].endpoints[0]->pool_id, id2);
  EXPECT_EQ(b->pool_ids, (std::vector<std::uint32_t>{id2}));
  // An endpoint that left and came back is a new endpoint: its old connections were closed.
  auto c = rt.bind(snapshotOf({{"t", {{"10.0.0.1", 80}, {"10.0.0.2", 80}}}}));
  EXPECT_NE(c->target_groups[0].endpoints[0]->pool_id, id1);
}

TEST(RuntimeState, ConfigsHoldTheirStateAfterTheRegistryMovesOn) {
  RuntimeState rt;
  auto old_config = rt.bind(snapshotOf({{"t", {{"10.0.0.1", 80}}}}));
  rt.bind(snapshotOf({}));
  EXPECT_EQ(rt.endpointCount(), 0u);
  // A request still on the old config keeps a valid EndpointState.
  old_config->target_groups[0].endpoints[0]->active_requests++;
  EXPECT_EQ(old_config->target_groups[0].endpoints[0]->active_requests.load(), 1u);
}

static_assert(!std::is_copy_constructible_v<snapshot::Snapshot>,
              "a Snapshot's lookup tables hold views into itself: copies would dangle");
static_assert(std::is_nothrow_move_constructible_v<snapshot::Snapshot> ||
                  std::is_move_constructible_v<snapshot::Snapshot>,
              "a Snapshot moves into its shared_ptr");

}  // namespace
}  // namespace portico::runtime
