#include "lb/balancer.h"

#include "runtime/runtime_state.h"

#include "test_state.h"

#include <gtest/gtest.h>

#include <map>

namespace portico::lb {
namespace {

using snapshot::Algorithm;
using snapshot::Endpoint;
using snapshot::TargetGroup;

using portico::testing::snapshotOf;

constexpr std::int64_t kNow = 1'000'000'000'000;  // any steady time
constexpr std::int64_t kSecond = 1'000'000'000;

std::vector<std::string> picks(Balancer& b, const runtime::PublishedConfig& c, std::uint32_t tg,
                               int n, std::int64_t now = kNow) {
  std::vector<std::string> seen;
  for (int i = 0; i < n; ++i) {
    auto* e = b.pick(tg, c.target_groups[tg], now);
    seen.push_back(e == nullptr ? "none" : e->endpoint.address);
  }
  return seen;
}

// How many of `n` picks each endpoint gets.
std::map<std::string, int> counts(Balancer& b, const runtime::PublishedConfig& c, int n,
                                  std::int64_t now = kNow, std::uint64_t hash = 0) {
  std::map<std::string, int> out;
  for (int i = 0; i < n; ++i) {
    auto* e = b.pick(0, c.target_groups[0], now, hash);
    ++out[e == nullptr ? "none" : e->endpoint.address];
  }
  return out;
}

TargetGroup group(const std::string& id, std::vector<Endpoint> endpoints, Algorithm algorithm) {
  TargetGroup tg{id, std::move(endpoints), std::nullopt, {}};
  tg.settings.algorithm = algorithm;
  return tg;
}

TEST(Balancer, RoundRobinCyclesThroughEndpoints) {
  runtime::RuntimeState rt;
  auto c =
      rt.bind(snapshotOf({{"ns/svc:80", {{"10.0.0.1", 80}, {"10.0.0.2", 80}, {"10.0.0.3", 80}}}}));
  Balancer b;
  b.rebind(nullptr, *c->snapshot);
  EXPECT_EQ(picks(b, *c, 0, 6), (std::vector<std::string>{"10.0.0.1", "10.0.0.2", "10.0.0.3",
                                                          "10.0.0.1", "10.0.0.2", "10.0.0.3"}));
}

TEST(Balancer, EmptyGroupHasNoEndpoint) {
  runtime::RuntimeState rt;
  auto c = rt.bind(snapshotOf({{"x", {}}}));
  Balancer b;
  b.rebind(nullptr, *c->snapshot);
  EXPECT_EQ(b.pick(0, c->target_groups[0], kNow), nullptr);
}

TEST(Balancer, SkipsUnhealthyAndFailsOpenWhenNoneIsHealthy) {
  runtime::RuntimeState rt;
  auto c = rt.bind(snapshotOf({{"t", {{"a", 1}, {"b", 1}, {"c", 1}}}}));
  Balancer b;
  b.rebind(nullptr, *c->snapshot);
  c->target_groups[0].endpoints[1]->health = runtime::kFailedActiveCheck;
  EXPECT_EQ(picks(b, *c, 0, 4), (std::vector<std::string>{"a", "c", "a", "c"}));
  EXPECT_FALSE(c->target_groups[0].runtime->fail_open.load());
  for (auto& e : c->target_groups[0].endpoints) {
    e->health = runtime::kFailedActiveCheck;
  }
  // Fail open: every endpoint in turn, and the group says so.
  EXPECT_EQ(picks(b, *c, 0, 3), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(c->target_groups[0].runtime->fail_open.load());
  c->target_groups[0].endpoints[2]->health = 0;
  EXPECT_EQ(picks(b, *c, 0, 2), (std::vector<std::string>{"c", "c"}));
  EXPECT_FALSE(c->target_groups[0].runtime->fail_open.load());
}

TEST(Balancer, DrainingEndpointsGetNothingEvenWhenFailingOpen) {
  runtime::RuntimeState rt;
  auto c = rt.bind(snapshotOf({{"t", {{"a", 1}, {"b", 1}}}}));
  Balancer b;
  b.rebind(nullptr, *c->snapshot);
  c->target_groups[0].endpoints[0]->draining = true;
  EXPECT_EQ(picks(b, *c, 0, 3), (std::vector<std::string>{"b", "b", "b"}));
  c->target_groups[0].endpoints[1]->health = runtime::kFailedActiveCheck;
  EXPECT_EQ(picks(b, *c, 0, 2), (std::vector<std::string>{"b", "b"}));  // fail open: not "a"
  c->target_groups[0].endpoints[1]->draining = true;
  EXPECT_EQ(b.pick(0, c->target_groups[0], kNow), nullptr);  // all draining: 503
}

TEST(Balancer, EjectedEndpointComesBackWhenItsEjectionIsOver) {
  runtime::RuntimeState rt;
  auto c = rt.bind(snapshotOf({{"t", {{"a", 1}, {"b", 1}}}}));
  Balancer b;
  b.rebind(nullptr, *c->snapshot);
  runtime::EndpointState& a = *c->target_groups[0].endpoints[0];
  for (int i = 0; i < 4; ++i) {
    EXPECT_FALSE(a.recordFailure(kNow, 5, 30));
  }
  EXPECT_TRUE(a.recordFailure(kNow, 5, 30));  // the fifth in a row ejects for 30 s
  EXPECT_EQ(picks(b, *c, 0, 3, kNow + 29 * kSecond), (std::vector<std::string>{"b", "b", "b"}));
  EXPECT_EQ(counts(b, *c, 2, kNow + 30 * kSecond)["a"], 1);  // let back in
  EXPECT_TRUE(a.healthy());
  // Failing again at once doubles the ejection: 60 s.
  for (int i = 0; i < 5; ++i) {
    a.recordFailure(kNow + 31 * kSecond, 5, 30);
  }
  EXPECT_EQ(counts(b, *c, 4, kNow + 90 * kSecond)["a"], 0);
  EXPECT_EQ(counts(b, *c, 4, kNow + 91 * kSecond)["a"], 2);
  a.recordSuccess();
  EXPECT_EQ(a.ejections.load(), 0u);  // a success ends the streak
}

TEST(Balancer, CursorFollowsItsTargetGroupToANewIndex) {
  runtime::RuntimeState rt;
  auto first = rt.bind(
      snapshotOf({{"ns/a:80", {{"a1", 1}, {"a2", 1}, {"a3", 1}}}, {"ns/b:80", {{"b1", 1}}}}));
  Balancer b;
  b.rebind(nullptr, *first->snapshot);
  EXPECT_EQ(picks(b, *first, 0, 2), (std::vector<std::string>{"a1", "a2"}));
  // A new snapshot puts another group first: ns/a:80 is now index 1, and its cursor went along.
  auto second = rt.bind(
      snapshotOf({{"ns/0:80", {{"z", 1}}}, {"ns/a:80", {{"a1", 1}, {"a2", 1}, {"a3", 1}}}}));
  b.rebind(first->snapshot.get(), *second->snapshot);
  EXPECT_EQ(picks(b, *second, 1, 2), (std::vector<std::string>{"a3", "a1"}));
  // A group that disappears is forgotten; coming back, it starts over.
  auto third = rt.bind(snapshotOf({{"ns/a:80", {{"a1", 1}, {"a2", 1}}}}));
  b.rebind(snapshotOf({}).get(), *third->snapshot);
  EXPECT_EQ(picks(b, *third, 0, 1), (std::vector<std::string>{"a1"}));
}

TEST(Balancer, RandomSpreadsEvenlyAndSkipsUnhealthy) {
  runtime::RuntimeState rt;
  auto c = rt.bind(
      snapshotOf({group("t", {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}}, Algorithm::kRandom)}));
  Balancer b(7);
  b.rebind(nullptr, *c->snapshot);
  auto seen = counts(b, *c, 8000);
  for (const char* e : {"a", "b", "c", "d"}) {
    EXPECT_NEAR(seen[e], 2000, 200) << e;
  }
  c->target_groups[0].endpoints[3]->health = runtime::kFailedActiveCheck;
  EXPECT_EQ(counts(b, *c, 3000)["d"], 0);
}

TEST(Balancer, LeastRequestPrefersTheLessLoaded) {
  runtime::RuntimeState rt;
  auto c =
      rt.bind(snapshotOf({group("t", {{"a", 1}, {"b", 1}, {"c", 1}}, Algorithm::kLeastRequest)}));
  Balancer b(11);
  b.rebind(nullptr, *c->snapshot);
  c->target_groups[0].endpoints[0]->active_requests = 50;  // "a" is busy
  auto seen = counts(b, *c, 3000);
  // Power of two choices: "a" wins only when drawn against itself, which it never is.
  EXPECT_EQ(seen["a"], 0);
  EXPECT_NEAR(seen["b"], 1500, 200);
  // Without load differences, the spread is even.
  c->target_groups[0].endpoints[0]->active_requests = 0;
  seen = counts(b, *c, 3000);
  for (const char* e : {"a", "b", "c"}) {
    EXPECT_GT(seen[e], 700) << e;
  }
}

TEST(Balancer, EwmaAvoidsTheSlowEndpoint) {
  runtime::RuntimeState rt;
  auto c = rt.bind(snapshotOf({group("t", {{"a", 1}, {"b", 1}, {"c", 1}}, Algorithm::kEwma)}));
  Balancer b(13);
  b.rebind(nullptr, *c->snapshot);
  auto& eps = c->target_groups[0].endpoints;
  eps[0]->ewma_ns = 500'000'000;  // 500 ms
  eps[1]->ewma_ns = 5'000'000;    // 5 ms
  eps[2]->ewma_ns = 6'000'000;
  auto seen = counts(b, *c, 3000);
  EXPECT_EQ(seen["a"], 0);
  EXPECT_GT(seen["b"], seen["c"]);  // b beats c whenever both are drawn
}

TEST(Balancer, RingHashKeepsAKeyOnItsEndpointAndMovesFewKeysWhenOneLeaves) {
  runtime::RuntimeState rt;
  std::vector<Endpoint> eps;
  for (int i = 0; i < 10; ++i) {
    eps.push_back({"10.0.0." + std::to_string(i), 80});
  }
  auto c = rt.bind(snapshotOf({group("t", eps, Algorithm::kRingHash)}));
  Balancer b;
  b.rebind(nullptr, *c->snapshot);
  std::map<std::uint64_t, std::string> placed;
  std::map<std::string, int> load;
  for (int k = 0; k < 2000; ++k) {
    const std::uint64_t key = runtime::hashKey("user-" + std::to_string(k));
    const auto* e = b.pick(0, c->target_groups[0], kNow, key);
    ASSERT_NE(e, nullptr);
    placed[key] = e->endpoint.address;
    ++load[e->endpoint.address];
    // The same key, the same endpoint.
    EXPECT_EQ(b.pick(0, c->target_groups[0], kNow, key)->endpoint.address, e->endpoint.address);
  }
  for (const auto& [address, n] : load) {
    EXPECT_GT(n, 100) << address;  // 200 each on average
    EXPECT_LT(n, 320) << address;
  }
  // One endpoint unhealthy: only its keys move.
  c->target_groups[0].endpoints[3]->health = runtime::kFailedActiveCheck;
  int moved = 0;
  for (const auto& [key, address] : placed) {
    const auto* e = b.pick(0, c->target_groups[0], kNow, key);
    if (e->endpoint.address != address) {
      ++moved;
      EXPECT_EQ(address, "10.0.0.3");
    }
  }
  EXPECT_EQ(moved, load["10.0.0.3"]);
}

TEST(Balancer, SlowStartRampsANewEndpointUp) {
  runtime::RuntimeState rt;
  TargetGroup tg = group("t", {{"a", 1}, {"b", 1}}, Algorithm::kRoundRobin);
  tg.settings.slow_start_seconds = 100;
  auto first = rt.bind(snapshotOf({tg}), nullptr, nullptr, {}, kNow);
  tg.endpoints.push_back({"c", 1});
  auto c = rt.bind(snapshotOf({tg}), nullptr, nullptr, {}, kNow);  // "c" joins at kNow
  EXPECT_EQ(first->target_groups[0].endpoints[0]->slow_start_end_ns.load(), 0);  // first ones
  Balancer b(17);
  b.rebind(nullptr, *c->snapshot);
  const auto share = [&](std::int64_t at) {
    auto seen = counts(b, *c, 6000, at);
    return static_cast<double>(seen["c"]) / 6000.0;
  };
  const double early = share(kNow + 5 * kSecond);  // a tenth of its share at least
  const double half = share(kNow + 50 * kSecond);
  const double full = share(kNow + 100 * kSecond);  // the window is over
  EXPECT_LT(early, 0.10);
  EXPECT_GT(early, 0.01);
  EXPECT_GT(half, early);
  EXPECT_LT(half, full);
  EXPECT_NEAR(full, 1.0 / 3.0, 0.02);
}

snapshot::Forward forward(std::vector<std::uint32_t> weights) {
  snapshot::Forward f;
  for (std::uint32_t i = 0; i < weights.size(); ++i) {
    f.targets.push_back(snapshot::WeightedTarget{i, weights[i], 100 + i});
  }
  return f;
}

TEST(Balancer, SplitHoldsItsWeightsExactly) {
  Balancer b;
  const auto f = forward({70, 30, 0});
  std::vector<int> seen(3, 0);
  for (int i = 0; i < 1000; ++i) {
    ++seen[b.split(f, 0, 0)];
  }
  EXPECT_EQ(seen, (std::vector<int>{700, 300, 0}));
  // Interleaved, not in runs: among any 10 in a row, 7 and 3.
  std::vector<int> window(3, 0);
  for (int i = 0; i < 10; ++i) {
    ++window[b.split(f, 0, 0)];
  }
  EXPECT_EQ(window, (std::vector<int>{7, 3, 0}));
}

TEST(Balancer, StickinessKeepsTheTargetGroupTheCookieNames) {
  Balancer b;
  const auto f = forward({50, 50, 0});
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(b.split(f, 0, 101), 1u);
  }
  EXPECT_NE(b.split(f, 0, 102), 2u);  // weight 0: the cookie does not win
  EXPECT_LT(b.split(f, 0, 999), 2u);  // unknown key: by weight
}

TEST(Balancer, SplitsAreIndependentPerRoute) {
  Balancer b;
  const auto f = forward({1, 1});
  EXPECT_EQ(b.split(f, 0, 0), 0u);
  EXPECT_EQ(b.split(f, 1, 0), 0u);  // its own state
  EXPECT_EQ(b.split(f, 0, 0), 1u);
}

}  // namespace
}  // namespace portico::lb
