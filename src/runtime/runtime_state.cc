#include "runtime/runtime_state.h"

#include "common/strings.h"

#include <algorithm>
#include <functional>
#include <iterator>
#include <tuple>

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
void RuntimeState::rebind(Group& group, const snapshot::TargetGroup& tg, std::int64_t now_ns) {
  TargetGroupState next;
  next.runtime = group.state.runtime;
  // A group that had endpoints ramps new ones up; the first ones start at full share.
  const bool slow_start = tg.settings.slow_start_seconds > 0 && !group.endpoints.empty();
  const std::int64_t deregistration =
      static_cast<std::int64_t>(tg.settings.deregistration_delay_seconds) * 1'000'000'000LL;
  next.endpoints.reserve(tg.endpoints.size());
  std::vector<bool> kept(group.endpoints.size(), false);
  // Identity is the address and port: an endpoint that turns terminating keeps its state.
  const auto before = [](const snapshot::Endpoint& a, const snapshot::Endpoint& b) {
    return std::tie(a.address, a.port) < std::tie(b.address, b.port);
  };
  for (const auto& e : tg.endpoints) {
    // Both lists are sorted: a merge finds the endpoints that stay.
    auto old = std::lower_bound(group.endpoints.begin(), group.endpoints.end(), e, before);
    if (old != group.endpoints.end() && old->address == e.address && old->port == e.port) {
      const auto i = static_cast<std::size_t>(old - group.endpoints.begin());
      kept[i] = true;
      EndpointState& kept_state = *group.state.endpoints[i];
      if (e.draining && !kept_state.draining.load(std::memory_order_relaxed)) {
        kept_state.drain_deadline_ns.store(now_ns + deregistration, std::memory_order_relaxed);
      } else if (!e.draining) {
        kept_state.drain_deadline_ns.store(0, std::memory_order_relaxed);
      }
      kept_state.draining.store(e.draining, std::memory_order_relaxed);
      next.endpoints.push_back(group.state.endpoints[i]);
      continue;
    }
    // The pool of this address if another group has one, else a new one keyed by this state.
    auto pool = pools_.find(AddressKey{e.address, e.port, group.flavor});
    auto es = std::make_shared<EndpointState>(
        tg.id, e, pool != pools_.end() ? pool->second.id : next_pool_id_++, group.flavor);
    acquirePool(es);
    es->draining.store(e.draining, std::memory_order_relaxed);
    if (e.draining) {
      es->drain_deadline_ns.store(now_ns + deregistration, std::memory_order_relaxed);
    }
    if (slow_start && !e.draining) {
      es->slow_start_begin_ns.store(now_ns);
      es->slow_start_end_ns.store(
          now_ns + static_cast<std::int64_t>(tg.settings.slow_start_seconds) * 1'000'000'000LL);
    }
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

namespace {

std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Points per endpoint: enough for an even spread with few endpoints, at most 64 Ki in all.
std::shared_ptr<const HashRing> buildRing(const std::vector<snapshot::Endpoint>& endpoints) {
  auto ring = std::make_shared<HashRing>();
  constexpr std::size_t kBuckets = std::size_t{1} << HashRing::kBucketBits;
  std::vector<std::pair<std::uint64_t, std::uint32_t>> points;
  if (!endpoints.empty()) {
    const std::size_t per = std::clamp<std::size_t>(65536 / endpoints.size(), 16, 160);
    points.reserve(per * endpoints.size());
    for (std::uint32_t i = 0; i < endpoints.size(); ++i) {
      const std::uint64_t base =
          hashKey(endpoints[i].address + ":" + std::to_string(endpoints[i].port));
      for (std::size_t v = 0; v < per; ++v) {
        points.emplace_back(mix(base + v * 0x9e3779b97f4a7c15ULL), i);
      }
    }
    std::sort(points.begin(), points.end());
  }
  ring->hashes.reserve(points.size());
  ring->owners.reserve(points.size());
  for (const auto& [hash, owner] : points) {
    ring->hashes.push_back(hash);
    ring->owners.push_back(owner);
  }
  ring->buckets.resize(kBuckets + 1);
  std::size_t at = 0;
  for (std::size_t b = 0; b < kBuckets; ++b) {
    const std::uint64_t start = static_cast<std::uint64_t>(b) << (64 - HashRing::kBucketBits);
    while (at < points.size() && points[at].first < start) {
      ++at;
    }
    ring->buckets[b] = static_cast<std::uint32_t>(at);
  }
  ring->buckets[kBuckets] = static_cast<std::uint32_t>(points.size());
  return ring;
}

}  // namespace

std::uint64_t hashKey(std::string_view key) { return mix(fnv1a64(key)); }

std::shared_ptr<const PublishedConfig> RuntimeState::bind(
    std::shared_ptr<const snapshot::Snapshot> snapshot, std::shared_ptr<const tls::SniTable> sni,
    std::shared_ptr<const metrics::RouteStatsIndex> request_stats, const UpstreamContexts& upstream,
    std::int64_t now_ns) {
  auto config = std::make_shared<PublishedConfig>();
  config->sni = std::move(sni);
  config->request_stats = std::move(request_stats);
  const std::uint64_t generation = ++generation_;
  config->target_groups.reserve(snapshot->targetGroups().size());
  for (const auto& tg : snapshot->targetGroups()) {
    auto [it, inserted] = groups_.try_emplace(tg.id);
    Group& group = it->second;
    group.seen = generation;
    if (inserted) {
      group.flavor = upstreamFlavor(tg);  // part of the id: the same for the group's life
      group.state.runtime = std::make_shared<GroupRuntime>();
    }
    const bool changed = inserted || group.endpoints != tg.endpoints;
    if (changed) {
      rebind(group, tg, now_ns);
    }
    const bool ring = tg.settings.algorithm == snapshot::Algorithm::kRingHash;
    if (ring && (changed || group.ring_for != snapshot::Algorithm::kRingHash)) {
      group.state.ring = buildRing(tg.endpoints);
    } else if (!ring) {
      group.state.ring.reset();
    }
    group.ring_for = tg.settings.algorithm;
    config->target_groups.push_back(group.state);
    config->target_groups.back().settings = &tg.settings;
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
  // Pools of draining endpoints are left out: the workers close their idle connections.
  std::vector<std::uint32_t> draining;
  for (const auto& state : config->target_groups) {
    for (const auto& es : state.endpoints) {
      if (es->draining.load(std::memory_order_relaxed)) {
        draining.push_back(es->pool_id);
      }
    }
  }
  if (!draining.empty()) {
    std::sort(draining.begin(), draining.end());
    std::vector<std::uint32_t> kept;
    kept.reserve(pool_list_.size());
    std::set_difference(pool_list_.begin(), pool_list_.end(), draining.begin(), draining.end(),
                        std::back_inserter(kept));
    config->pool_ids = std::move(kept);
  }
  config->snapshot = std::move(snapshot);
  config->generation = generation;
  return config;
}

}  // namespace portico::runtime
