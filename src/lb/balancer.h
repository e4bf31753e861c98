#pragma once
// Endpoint selection for one worker (DESIGN.md, "Balancing"): each target group's algorithm
// (round_robin, least_request, ewma, random, ring_hash) over the endpoints that take traffic:
// healthy (no health bit set, or an ejection that is over), not draining, and through their
// slow-start ramp. When none takes traffic, the pick spreads over every endpoint that is not
// draining (fail open, as the ALB does) and the group's runtime says so.
//
// The weighted choice among a Forward action's target groups is here too: smooth weighted round
// robin (nginx's), so 70/30 is exactly 7 in 10 on each worker, with stickiness by cookie.
//
// Thread: owned by one proxy worker and used only on its thread (no locks). Cursors are indexed
// by the snapshot's dense target group index; rebind() moves them to the new indexes by target
// group id when the worker installs a new config, so they survive swaps. A pick allocates
// nothing.

#include "common/clock.h"
#include "runtime/published_config.h"

#include <cstdint>
#include <vector>

namespace portico::lb {

// The time a pick looks at, read from the clock only when an endpoint needs it (an ejection
// that may be over, a slow-start ramp): most picks never read it.
class LazyNow {
 public:
  explicit LazyNow(const Clock& clock) : clock_(&clock) {}
  explicit LazyNow(std::int64_t now_ns) : value_(now_ns) {}
  std::int64_t get() {
    if (value_ < 0) {
      value_ = runtime::steadyNs(clock_->now());
    }
    return value_;
  }

 private:
  const Clock* clock_ = nullptr;
  std::int64_t value_ = -1;
};

class Balancer final {
 public:
  explicit Balancer(std::uint64_t seed = 1) : rng_(seed) {}

  // The next endpoint of target group `tg` at `now_ns`, or nullptr when it has none that is
  // not draining. `hash` is the request's key for ring_hash (hashKey() of its header, cookie
  // or source address). A retry calls it again and so moves on.
  runtime::EndpointState* pick(std::uint32_t tg, const runtime::TargetGroupState& state,
                               LazyNow& now, std::uint64_t hash = 0);
  runtime::EndpointState* pick(std::uint32_t tg, const runtime::TargetGroupState& state,
                               std::int64_t now_ns, std::uint64_t hash = 0) {
    LazyNow now(now_ns);
    return pick(tg, state, now, hash);
  }

  // Which of `forward`'s targets a request goes to (an index into forward.targets). `sticky`:
  // the key of the target group the request's stickiness cookie names (0: none); it wins when
  // it names one of weight > 0. `split` is the route's dense split index (see splitIndex).
  std::size_t split(const snapshot::Forward& forward, std::uint32_t split, std::uint64_t sticky);

  // Carries cursors from `old_snapshot` (may be null) over to `next`, by target group id, and
  // resets the splits (their weights may have changed).
  void rebind(const snapshot::Snapshot* old_snapshot, const snapshot::Snapshot& next);

 private:
  runtime::EndpointState* failOpen(std::uint32_t& cursor, const runtime::TargetGroupState& state);
  bool takes(runtime::EndpointState& e, LazyNow& now);

  std::vector<std::uint32_t> cursors_;
  std::vector<std::vector<std::int64_t>> splits_;  // [split] current weights, per target
  Random rng_;
};

}  // namespace portico::lb
