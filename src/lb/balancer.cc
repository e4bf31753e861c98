#include "lb/balancer.h"

#include <string_view>
#include <unordered_map>

namespace portico::lb {

runtime::EndpointState* RoundRobin::pick(std::uint32_t tg, const runtime::TargetGroupState& state) {
  const std::size_t n = state.endpoints.size();
  if (n == 0) {
    return nullptr;
  }
  if (tg >= cursors_.size()) {
    cursors_.resize(tg + 1, 0);
  }
  std::uint32_t& cursor = cursors_[tg];
  for (std::size_t tried = 0; tried < n; ++tried) {
    runtime::EndpointState* e = state.endpoints[cursor % n].get();
    cursor = static_cast<std::uint32_t>((cursor + 1) % n);
    if (e->healthy()) {
      return e;
    }
  }
  // None is healthy: fail open, as the ALB does, rather than refuse everything.
  runtime::EndpointState* e = state.endpoints[cursor % n].get();
  cursor = static_cast<std::uint32_t>((cursor + 1) % n);
  return e;
}

void RoundRobin::rebind(const snapshot::Snapshot* old_snapshot, const snapshot::Snapshot& next) {
  std::vector<std::uint32_t> cursors(next.targetGroups().size(), 0);
  if (old_snapshot != nullptr) {
    std::unordered_map<std::string_view, std::uint32_t> old;
    const auto& old_tgs = old_snapshot->targetGroups();
    for (std::size_t i = 0; i < old_tgs.size() && i < cursors_.size(); ++i) {
      old.emplace(old_tgs[i].id, cursors_[i]);
    }
    const auto& tgs = next.targetGroups();
    for (std::size_t i = 0; i < tgs.size(); ++i) {
      if (auto it = old.find(tgs[i].id); it != old.end()) {
        cursors[i] = it->second;
      }
    }
  }
  cursors_ = std::move(cursors);
}

}  // namespace portico::lb
