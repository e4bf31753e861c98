#include "runtime/runtime_state.h"

#include <algorithm>
#include <functional>

namespace portico::runtime {

std::size_t RuntimeState::Hash::operator()(const AddressKey& k) const {
  std::size_t seed = std::hash<std::string_view>{}(k.address);
  seed ^= k.port + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
  if (!k.flavor.empty()) {
    seed ^= std::hash<std::string_view>{}(k.flavor) + 0x9e3779b97f4a7c15ULL + (seed << 6);
  }
  return seed;
}

std::size_t RuntimeState::endpointCount() const {
  std::size_t n = 0;
  for (const auto& [id, group] : groups_) {
    n += group.state.endpoints.size();
  }
  return n;
}

std::uint32_t RuntimeState::acquirePool(const std::shared_ptr<EndpointState>& state) {
  const EndpointState& es = *state;
  auto [it, inserted] = pools_.try_emplace(
      AddressKey{es.endpoint.address, es.endpoint.port, es.flavor}, Pool{es.pool_id, state, 0});
  ++it->second.users;
  pools_changed_ = pools_changed_ || inserted;
  return it->second.id;
}

void RuntimeState::releasePool(const EndpointState& state) {
  auto it = pools_.find(AddressKey{state.endpoint.address, state.endpoint.port, state.flavor});
  if (it != pools_.end() && --it->second.users == 0) {
    pools_.erase(it);
    pools_changed_ = true;
  }
}

// The group's endpoints changed: states of endpoints that stay are kept (health and counters
// survive), new ones are made, and the ones that left give their pool back.
void RuntimeState::rebind(Group& group, const snapshot::TargetGroup& tg) {
  TargetGroupState next;
  next.endpoints.reserve(tg.endpoints.size());
  std::vector<bool> kept(group.endpoints.size(), false);
  for (const auto& e : tg.endpoints) {
    // Both lists are sorted: a merge finds the endpoints that stay.
    auto old = std::lower_bound(group.endpoints.begin(), group.endpoints.end(), e);
    if (old != group.endpoints.end() && *old == e) {
      const auto i = static_cast<std::size_t>(old - group.endpoints.begin());
      kept[i] = true;
      next.endpoints.push_back(group.state.endpoints[i]);
      continue;
    }
    // The pool of this address if another group has one, else a new one keyed by this state.
    auto pool = pools_.find(AddressKey{e.address, e.port, group.flavor});
    auto es = std::make_shared<EndpointState>(
        tg.id, e, pool != pools_.end() ? pool->second.id : next_pool_id_++, group.flavor);
    acquirePool(es);
    next.endpoints.push_back(std::move(es));
  }
  for (std::size_t i = 0; i < kept.size(); ++i) {
    if (!kept[i]) {
      releasePool(*group.state.endpoints[i]);
    }
  }
  group.endpoints = tg.endpoints;
  group.state = std::move(next);
}

std::shared_ptr<const PublishedConfig> RuntimeState::bind(
    std::shared_ptr<const snapshot::Snapshot> snapshot, std::shared_ptr<const tls::SniTable> sni,
    const UpstreamContexts& upstream) {
  auto config = std::make_shared<PublishedConfig>();
  config->sni = std::move(sni);
  const std::uint64_t generation = ++generation_;
  config->target_groups.reserve(snapshot->targetGroups().size());
  for (const auto& tg : snapshot->targetGroups()) {
    auto [it, inserted] = groups_.try_emplace(tg.id);
    Group& group = it->second;
    group.seen = generation;
    if (inserted) {
      group.flavor = upstreamFlavor(tg);  // part of the id: the same for the group's life
    }
    if (inserted || group.endpoints != tg.endpoints) {
      rebind(group, tg);
    }
    config->target_groups.push_back(group.state);
    if (tg.tls) {
      auto t = std::make_shared<UpstreamTls>();
      t->server_name = tg.tls->server_name;
      t->verify = !tg.tls->ca_secret.empty();
      if (!t->verify) {
        t->ctx = upstream.unverified;
      } else if (auto ca = upstream.by_ca_secret.find(tg.tls->ca_secret);
                 ca != upstream.by_ca_secret.end()) {
        t->ctx = ca->second;
      }
      config->target_groups.back().tls = std::move(t);
    }
  }
  // Groups this snapshot does not name are dropped (configs still in use hold their states).
  for (auto it = groups_.begin(); it != groups_.end();) {
    if (it->second.seen == generation) {
      ++it;
      continue;
    }
    for (const auto& es : it->second.state.endpoints) {
      releasePool(*es);
    }
    it = groups_.erase(it);
  }
  if (pools_changed_) {
    pool_list_.clear();
    pool_list_.reserve(pools_.size());
    for (const auto& [address, pool] : pools_) {
      pool_list_.push_back(pool.id);
    }
    std::sort(pool_list_.begin(), pool_list_.end());
    pools_changed_ = false;
  }
  config->pool_ids = pool_list_;
  config->snapshot = std::move(snapshot);
  config->generation = generation;
  return config;
}

}  // namespace portico::runtime
