#include "runtime/runtime_state.h"

#include <algorithm>

namespace portico::runtime {

std::shared_ptr<const PublishedConfig> RuntimeState::bind(
    std::shared_ptr<const snapshot::Snapshot> snapshot) {
  auto config = std::make_shared<PublishedConfig>();
  std::map<EndpointKey, std::shared_ptr<EndpointState>> endpoints;
  std::map<snapshot::Endpoint, std::uint32_t> pool_ids;
  config->target_groups.reserve(snapshot->targetGroups().size());
  for (const auto& tg : snapshot->targetGroups()) {
    TargetGroupState& state = config->target_groups.emplace_back();
    state.endpoints.reserve(tg.endpoints.size());
    for (const auto& e : tg.endpoints) {
      std::uint32_t pool_id = 0;
      if (auto it = pool_ids_.find(e); it != pool_ids_.end()) {
        pool_id = it->second;
      } else if (auto fresh = pool_ids.find(e); fresh != pool_ids.end()) {
        pool_id = fresh->second;
      } else {
        pool_id = next_pool_id_++;
      }
      pool_ids.emplace(e, pool_id);
      EndpointKey key{tg.id, e};
      std::shared_ptr<EndpointState> es;
      if (auto it = endpoints_.find(key); it != endpoints_.end()) {
        es = it->second;  // carried over: health and counters survive the swap
      } else {
        es = std::make_shared<EndpointState>(tg.id, e, pool_id);
      }
      endpoints.emplace(std::move(key), es);
      state.endpoints.push_back(std::move(es));
    }
  }
  for (const auto& [e, id] : pool_ids) {
    config->pool_ids.push_back(id);
  }
  std::sort(config->pool_ids.begin(), config->pool_ids.end());
  endpoints_ = std::move(endpoints);
  pool_ids_ = std::move(pool_ids);
  config->snapshot = std::move(snapshot);
  config->generation = ++generation_;
  return config;
}

}  // namespace portico::runtime
