#include "runtime/runtime_state.h"

#include <algorithm>
#include <functional>

namespace portico::runtime {

namespace {
std::size_t mix(std::size_t seed, std::size_t value) {
  return seed ^ (value + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2));
}
}  // namespace

std::size_t RuntimeState::Hash::operator()(const AddressKey& k) const {
  return mix(std::hash<std::string_view>{}(k.address), k.port);
}

std::size_t RuntimeState::Hash::operator()(const EndpointKey& k) const {
  return mix(std::hash<std::string_view>{}(k.target_group), (*this)(k.address));
}

std::shared_ptr<const PublishedConfig> RuntimeState::bind(
    std::shared_ptr<const snapshot::Snapshot> snapshot) {
  auto config = std::make_shared<PublishedConfig>();
  const std::uint64_t generation = ++generation_;
  config->target_groups.reserve(snapshot->targetGroups().size());
  for (const auto& tg : snapshot->targetGroups()) {
    TargetGroupState& state = config->target_groups.emplace_back();
    state.endpoints.reserve(tg.endpoints.size());
    for (const auto& e : tg.endpoints) {
      const AddressKey address{e.address, e.port};
      auto it = endpoints_.find(EndpointKey{tg.id, address});
      auto pool = pool_ids_.find(address);
      if (it == endpoints_.end()) {
        const std::uint32_t pool_id = pool != pool_ids_.end() ? pool->second.id : next_pool_id_++;
        auto es = std::make_shared<EndpointState>(tg.id, e, pool_id);
        // Keys view the state's own strings, which live as long as the entry.
        const AddressKey own{es->endpoint.address, es->endpoint.port};
        if (pool == pool_ids_.end()) {
          pool = pool_ids_.emplace(own, Pool{pool_id, es, generation}).first;
        }
        it = endpoints_.emplace(EndpointKey{es->target_group, own}, Entry{es, generation}).first;
      }
      // Carried over or new: health and counters survive the swap.
      it->second.seen = generation;
      pool->second.seen = generation;
      state.endpoints.push_back(it->second.state);
    }
  }
  // What this snapshot does not name is dropped (configs still in use hold their own states).
  std::erase_if(endpoints_, [&](const auto& entry) { return entry.second.seen != generation; });
  std::erase_if(pool_ids_, [&](const auto& entry) { return entry.second.seen != generation; });
  config->pool_ids.reserve(pool_ids_.size());
  for (const auto& [address, pool] : pool_ids_) {
    config->pool_ids.push_back(pool.id);
  }
  std::sort(config->pool_ids.begin(), config->pool_ids.end());
  config->snapshot = std::move(snapshot);
  config->generation = generation;
  return config;
}

}  // namespace portico::runtime
