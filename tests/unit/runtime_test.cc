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

TEST(RuntimeState, APoolSharedByTwoGroupsLivesUntilTheLastLeaves) {
  RuntimeState rt;
  auto both = rt.bind(snapshotOf({{"a", {{"10.0.0.1", 80}}}, {"b", {{"10.0.0.1", 80}}}}));
  const auto pool = both->target_groups[0].endpoints[0]->pool_id;
  EXPECT_EQ(both->target_groups[1].endpoints[0]->pool_id, pool);
  EXPECT_EQ(both->pool_ids, (std::vector<std::uint32_t>{pool}));
  // Group a goes: b still uses the address, so its pool (and its connections) stays.
  auto only_b = rt.bind(snapshotOf({{"b", {{"10.0.0.1", 80}}}}));
  EXPECT_EQ(only_b->target_groups[0].endpoints[0]->pool_id, pool);
  EXPECT_EQ(only_b->pool_ids, (std::vector<std::uint32_t>{pool}));
  // b drops the address for another one: the first pool is freed, the new one listed alone.
  auto moved = rt.bind(snapshotOf({{"b", {{"10.0.0.2", 80}}}}));
  const auto pool2 = moved->target_groups[0].endpoints[0]->pool_id;
  EXPECT_NE(pool2, pool);
  EXPECT_EQ(moved->pool_ids, (std::vector<std::uint32_t>{pool2}));
  auto none = rt.bind(snapshotOf({}));
  EXPECT_TRUE(none->pool_ids.empty());
  EXPECT_EQ(rt.endpointCount(), 0u);
}

TEST(RuntimeState, AGroupWhoseEndpointsStayKeepsEveryState) {
  RuntimeState rt;
  auto first =
      rt.bind(snapshotOf({{"a", {{"10.0.0.1", 80}, {"10.0.0.2", 80}}}, {"b", {{"10.0.0.3", 80}}}}));
  // Only b changes: a's states are the same objects, in the same order.
  auto second = rt.bind(snapshotOf(
      {{"a", {{"10.0.0.1", 80}, {"10.0.0.2", 80}}}, {"b", {{"10.0.0.3", 80}, {"10.0.0.4", 80}}}}));
  ASSERT_EQ(second->target_groups.size(), 2u);
  EXPECT_EQ(second->target_groups[0].endpoints, first->target_groups[0].endpoints);
  EXPECT_EQ(second->target_groups[1].endpoints[0], first->target_groups[1].endpoints[0]);
  EXPECT_EQ(second->pool_ids.size(), 4u);
  EXPECT_EQ(rt.endpointCount(), 4u);
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
