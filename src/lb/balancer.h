#pragma once
// Endpoint selection for one worker: round robin over a target group's endpoints that take
// traffic (health bits clear; all of them when none does, failing open as the ALB does).
//
// Thread: owned by one proxy worker and used only on its thread (no locks). Cursors are indexed
// by the snapshot's dense target group index, so a pick is an array index; rebind() moves them
// to the new indexes by target group id when the worker installs a new config, so they survive
// swaps (DESIGN.md, "Mutable runtime state lives outside the snapshot").

#include "runtime/published_config.h"

#include <cstdint>
#include <vector>

namespace portico::lb {

class RoundRobin final {
 public:
  // The next endpoint of target group `tg`, or nullptr when it has none. A retry calls it again
  // and so moves on to the next endpoint.
  runtime::EndpointState* pick(std::uint32_t tg, const runtime::TargetGroupState& state);

  // Carries cursors from `old_snapshot` (may be null) over to `next`, by target group id.
  void rebind(const snapshot::Snapshot* old_snapshot, const snapshot::Snapshot& next);

 private:
  std::vector<std::uint32_t> cursors_;
};

}  // namespace portico::lb
