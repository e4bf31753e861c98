#include "lb/balancer.h"

#include <unordered_set>

namespace portico::lb {

const snapshot::Endpoint* RoundRobin::pick(const snapshot::TargetGroup& tg) {
  if (tg.endpoints.empty()) {
    return nullptr;
  }
  std::size_t& cursor = cursors_[tg.id];
  const snapshot::Endpoint* e = &tg.endpoints[cursor % tg.endpoints.size()];
  cursor = (cursor + 1) % tg.endpoints.size();
  return e;
}

void RoundRobin::retain(const snapshot::Snapshot& snapshot) {
  std::unordered_set<std::string_view> ids;
  for (const auto& tg : snapshot.targetGroups()) {
    ids.insert(tg.id);
  }
  for (auto it = cursors_.begin(); it != cursors_.end();) {
    it = ids.count(it->first) != 0 ? std::next(it) : cursors_.erase(it);
  }
}

}  // namespace portico::lb
