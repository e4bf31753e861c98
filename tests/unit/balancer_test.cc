#include "lb/balancer.h"

#include <gtest/gtest.h>

namespace portico::lb {
namespace {

using snapshot::Endpoint;
using snapshot::TargetGroup;

TEST(RoundRobin, CyclesThroughEndpoints) {
  RoundRobin rr;
  const TargetGroup tg{"ns/svc:80", {{"10.0.0.1", 80}, {"10.0.0.2", 80}, {"10.0.0.3", 80}}};
  std::vector<std::string> seen;
  for (int i = 0; i < 6; ++i) {
    seen.push_back(rr.pick(tg)->address);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.1",
                                            "10.0.0.2", "10.0.0.3"}));
}

TEST(RoundRobin, EmptyGroupHasNoEndpoint) {
  RoundRobin rr;
  EXPECT_EQ(rr.pick(TargetGroup{"x", {}}), nullptr);
}

TEST(RoundRobin, CursorSurvivesASwapAndShrinkingGroups) {
  RoundRobin rr;
  const TargetGroup three{"ns/svc:80", {{"a", 1}, {"b", 1}, {"c", 1}}};
  EXPECT_EQ(rr.pick(three)->address, "a");
  EXPECT_EQ(rr.pick(three)->address, "b");
  // The same group in a new snapshot, with one endpoint gone: the cursor carries on.
  const TargetGroup two{"ns/svc:80", {{"a", 1}, {"b", 1}}};
  const snapshot::Snapshot snap({two}, {}, {});
  rr.retain(snap);
  EXPECT_EQ(rr.pick(two)->address, "a");  // cursor 2 wraps to 0 within two endpoints
  EXPECT_EQ(rr.pick(two)->address, "b");
  // A group that disappears is forgotten; coming back, it starts over.
  rr.retain(snapshot::Snapshot({}, {}, {}));
  EXPECT_EQ(rr.pick(three)->address, "a");
}

}  // namespace
}  // namespace portico::lb
