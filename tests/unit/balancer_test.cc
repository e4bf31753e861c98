#include "lb/balancer.h"

#include "runtime/runtime_state.h"

#include "test_state.h"

#include <gtest/gtest.h>

namespace portico::lb {
namespace {

using snapshot::Endpoint;
using snapshot::TargetGroup;

using portico::testing::snapshotOf;

std::vector<std::string> picks(RoundRobin& rr, const runtime::PublishedConfig& c, std::uint32_t tg,
                               int n) {
  std::vector<std::string> seen;
  for (int i = 0; i < n; ++i) {
    auto* e = rr.pick(tg, c.target_groups[tg]);
    seen.push_back(e == nullptr ? "none" : e->endpoint.address);
  }
  return seen;
}

TEST(RoundRobin, CyclesThroughEndpoints) {
  runtime::RuntimeState rt;
  auto c =
      rt.bind(snapshotOf({{"ns/svc:80", {{"10.0.0.1", 80}, {"10.0.0.2", 80}, {"10.0.0.3", 80}}}}));
  RoundRobin rr;
  rr.rebind(nullptr, *c->snapshot);
  EXPECT_EQ(picks(rr, *c, 0, 6), (std::vector<std::string>{"10.0.0.1", "10.0.0.2", "10.0.0.3",
                                                           "10.0.0.1", "10.0.0.2", "10.0.0.3"}));
}

TEST(RoundRobin, EmptyGroupHasNoEndpoint) {
  runtime::RuntimeState rt;
  auto c = rt.bind(snapshotOf({{"x", {}}}));
  RoundRobin rr;
  rr.rebind(nullptr, *c->snapshot);
  EXPECT_EQ(rr.pick(0, c->target_groups[0]), nullptr);
}

TEST(RoundRobin, SkipsUnhealthyAndFailsOpenWhenNoneIsHealthy) {
  runtime::RuntimeState rt;
  auto c = rt.bind(snapshotOf({{"t", {{"a", 1}, {"b", 1}, {"c", 1}}}}));
  RoundRobin rr;
  rr.rebind(nullptr, *c->snapshot);
  c->target_groups[0].endpoints[1]->health = runtime::kFailedActiveCheck;
  EXPECT_EQ(picks(rr, *c, 0, 4), (std::vector<std::string>{"a", "c", "a", "c"}));
  for (auto& e : c->target_groups[0].endpoints) {
    e->health = runtime::kEjected;
  }
  EXPECT_NE(rr.pick(0, c->target_groups[0]), nullptr);
}

TEST(RoundRobin, CursorFollowsItsTargetGroupToANewIndex) {
  runtime::RuntimeState rt;
  auto first = rt.bind(
      snapshotOf({{"ns/a:80", {{"a1", 1}, {"a2", 1}, {"a3", 1}}}, {"ns/b:80", {{"b1", 1}}}}));
  RoundRobin rr;
  rr.rebind(nullptr, *first->snapshot);
  EXPECT_EQ(picks(rr, *first, 0, 2), (std::vector<std::string>{"a1", "a2"}));
  // A new snapshot puts another group first: ns/a:80 is now index 1, and its cursor went along.
  auto second = rt.bind(
      snapshotOf({{"ns/0:80", {{"z", 1}}}, {"ns/a:80", {{"a1", 1}, {"a2", 1}, {"a3", 1}}}}));
  rr.rebind(first->snapshot.get(), *second->snapshot);
  EXPECT_EQ(picks(rr, *second, 1, 2), (std::vector<std::string>{"a3", "a1"}));
  // A group that disappears is forgotten; coming back, it starts over.
  auto third = rt.bind(snapshotOf({{"ns/a:80", {{"a1", 1}, {"a2", 1}}}}));
  rr.rebind(snapshotOf({}).get(), *third->snapshot);
  EXPECT_EQ(picks(rr, *third, 0, 1), (std::vector<std::string>{"a1"}));
}

}  // namespace
}  // namespace portico::lb
