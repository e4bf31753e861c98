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
  kept.failures = 41;
  // A new snapshot: another group first, 10.0.0.1 gone, 10.0.0.3 new.
  auto second = rt.bind(snapshotOf(
      {{"ns/0:80", {{"10.0.0.2", 80}}}, {"ns/a:80", {{"10.0.0.2", 80}, {"10.0.0.3", 80}}}}));
  ASSERT_EQ(second->target_groups.size(), 2u);
  EXPECT_EQ(second->target_groups[1].endpoints[0].get(), &kept);  // same object, same health
  EXPECT_EQ(kept.health.load(), kFailedActiveCheck);
  EXPECT_EQ(kept.failures.load(), 41u);
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

// TLS target groups: the same address reached in plain HTTP and over TLS (or with other TLS
// settings) never shares a pool, so a plain connection is never handed to a TLS exchange; each
// TLS group is joined to its client context by CA Secret, and one whose CA is missing gets none.
TEST(RuntimeState, TlsTargetGroupsHaveTheirOwnPoolsAndContexts) {
  int a = 0;
  int b = 0;
  const auto fake = [](int* p) {
    return std::shared_ptr<ssl_ctx_st>(reinterpret_cast<ssl_ctx_st*>(p), [](ssl_ctx_st*) {});
  };
  UpstreamContexts contexts;
  contexts.unverified = fake(&a);
  contexts.by_ca_secret.emplace("ns/ca", fake(&b));
  const Endpoint e{"10.0.0.1", 443};
  TargetGroup plain{"ns/s:443", {e}, std::nullopt};
  TargetGroup unverified{"ns/s:443/https;sni=s.ns.svc", {e}, snapshot::BackendTls{"s.ns.svc", ""}};
  TargetGroup verified{
      "ns/s:443/https;sni=s.ns.svc;ca=ns/ca", {e}, snapshot::BackendTls{"s.ns.svc", "ns/ca"}};
  TargetGroup broken{
      "ns/s:443/https;sni=s.ns.svc;ca=ns/gone", {e}, snapshot::BackendTls{"s.ns.svc", "ns/gone"}};
  TargetGroup again{"ns/t:443/https;sni=s.ns.svc", {e}, snapshot::BackendTls{"s.ns.svc", ""}};
  RuntimeState rt;
  auto config =
      rt.bind(snapshotOf({plain, unverified, verified, broken, again}), nullptr, nullptr, contexts);
  const auto& tgs = config->target_groups;
  ASSERT_EQ(tgs.size(), 5u);
  EXPECT_EQ(tgs[0].tls, nullptr);
  ASSERT_NE(tgs[1].tls, nullptr);
  EXPECT_EQ(tgs[1].tls->ctx.get(), reinterpret_cast<ssl_ctx_st*>(&a));
  EXPECT_FALSE(tgs[1].tls->verify);
  EXPECT_EQ(tgs[1].tls->server_name, "s.ns.svc");
  EXPECT_EQ(tgs[2].tls->ctx.get(), reinterpret_cast<ssl_ctx_st*>(&b));
  EXPECT_TRUE(tgs[2].tls->verify);
  EXPECT_EQ(tgs[3].tls->ctx, nullptr);  // fails closed: never the unverified context
  EXPECT_TRUE(tgs[3].tls->verify);
  // One pool per way of speaking to the address; the same way in two groups shares one.
  const auto pool = [&](std::size_t i) { return tgs[i].endpoints[0]->pool_id; };
  EXPECT_NE(pool(0), pool(1));
  EXPECT_NE(pool(1), pool(2));
  EXPECT_NE(pool(2), pool(3));
  EXPECT_EQ(pool(1), pool(4));
  EXPECT_EQ(config->pool_ids.size(), 4u);
  EXPECT_EQ(tgs[0].endpoints[0]->flavor, "");
  EXPECT_EQ(tgs[2].endpoints[0]->flavor, "tls;s.ns.svc;ns/ca");
}

}  // namespace
}  // namespace portico::runtime
