#pragma once
// Endpoint selection for one worker. Round robin over a target group's ready endpoints.
//
// Thread: owned by one proxy worker and used only on its thread (no locks). Cursors are keyed by
// the target group's stable id, so they survive snapshot swaps (DESIGN.md, "Mutable runtime
// state lives outside the snapshot").

#include "snapshot/snapshot.h"

#include <cstddef>
#include <string>
#include <unordered_map>

namespace portico::lb {

class RoundRobin final {
 public:
  // The next endpoint of `tg`, or nullptr when it has none. A retry calls it again and so
  // moves on to the next endpoint.
  const snapshot::Endpoint* pick(const snapshot::TargetGroup& tg);

  // Forgets cursors of target groups that no longer exist.
  void retain(const snapshot::Snapshot& snapshot);

 private:
  std::unordered_map<std::string, std::size_t> cursors_;
};

}  // namespace portico::lb
