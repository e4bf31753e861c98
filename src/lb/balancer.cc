#include "lb/balancer.h"

#include <algorithm>
#include <string_view>
#include <unordered_map>

namespace portico::lb {

using runtime::EndpointState;

namespace {
// Peak EWMA's decay while an endpoint gets no samples: its average is divided by 1 + idle/this.
constexpr std::int64_t kEwmaDecayNs = 10'000'000'000;
}  // namespace

bool Balancer::takes(EndpointState& e, LazyNow& now) {
  if (e.draining.load(std::memory_order_relaxed)) {
    return false;
  }
  if (!e.healthy() && !e.available(now.get())) {
    return false;
  }
  const std::int64_t end = e.slow_start_end_ns.load(std::memory_order_relaxed);
  if (end == 0) {
    return true;
  }
  const std::int64_t now_ns = now.get();
  if (now_ns >= end) {
    return true;
  }
  // Slow start: the share grows linearly over the window, from a tenth (Envoy's min_weight
  // idea): accepted with that probability, so the caller tries another endpoint otherwise.
  const std::int64_t begin = e.slow_start_begin_ns.load(std::memory_order_relaxed);
  const std::int64_t window = std::max<std::int64_t>(end - begin, 1);
  const std::uint64_t share =
      static_cast<std::uint64_t>(std::max<std::int64_t>(1000 * (now_ns - begin) / window, 100));
  return rng_.below(1000) < share;
}

EndpointState* Balancer::failOpen(std::uint32_t& cursor, const runtime::TargetGroupState& state) {
  const std::size_t n = state.endpoints.size();
  for (std::size_t tried = 0; tried < n; ++tried) {
    EndpointState* e = state.endpoints[cursor % n].get();
    cursor = static_cast<std::uint32_t>((cursor + 1) % n);
    if (!e->draining.load(std::memory_order_relaxed)) {
      if (state.runtime != nullptr && !state.runtime->fail_open.load(std::memory_order_relaxed)) {
        state.runtime->fail_open.store(true, std::memory_order_relaxed);
      }
      return e;
    }
  }
  return nullptr;  // every endpoint is draining: nothing takes new requests
}

EndpointState* Balancer::pick(std::uint32_t tg, const runtime::TargetGroupState& state,
                              LazyNow& now, std::uint64_t hash) {
  const std::size_t n = state.endpoints.size();
  if (n == 0) {
    return nullptr;
  }
  if (tg >= cursors_.size()) {
    cursors_.resize(tg + 1, 0);
  }
  std::uint32_t& cursor = cursors_[tg];
  const snapshot::Algorithm algorithm =
      state.settings != nullptr ? state.settings->algorithm : snapshot::Algorithm::kRoundRobin;
  const auto& eps = state.endpoints;
  EndpointState* chosen = nullptr;
  switch (algorithm) {
    case snapshot::Algorithm::kRoundRobin:
      break;
    case snapshot::Algorithm::kRandom:
      for (std::size_t tried = 0; tried < 2 && chosen == nullptr; ++tried) {
        EndpointState* e = eps[rng_.below(n)].get();
        chosen = takes(*e, now) ? e : nullptr;
      }
      break;
    case snapshot::Algorithm::kLeastRequest:
    case snapshot::Algorithm::kEwma: {
      // Power of two choices: the better of two random endpoints that take traffic.
      const std::size_t ia = rng_.below(n);
      std::size_t ib = n > 1 ? rng_.below(n - 1) : ia;
      if (n > 1 && ib >= ia) {
        ++ib;  // two distinct endpoints
      }
      EndpointState* a = eps[ia].get();
      EndpointState* b = eps[ib].get();
      const bool ta = takes(*a, now);
      const bool tb = b != a && takes(*b, now);
      if (ta && tb) {
        const std::int64_t now_ns = algorithm == snapshot::Algorithm::kEwma ? now.get() : 0;
        const auto load = [algorithm, now_ns](const EndpointState& e) -> std::uint64_t {
          const std::uint64_t active = e.active_requests.load(std::memory_order_relaxed);
          if (algorithm == snapshot::Algorithm::kLeastRequest) {
            return active;
          }
          // Peak EWMA: latency times load; an endpoint without samples costs as if fast. The
          // average decays while the endpoint gets no samples (halved after one time
          // constant), so one that was slow once is tried again.
          const std::int64_t ewma = e.ewma_ns.load(std::memory_order_relaxed);
          const std::int64_t idle =
              std::max<std::int64_t>(now_ns - e.ewma_at_ns.load(std::memory_order_relaxed), 0);
          const auto decayed = static_cast<std::uint64_t>(
              std::max<std::int64_t>(ewma / (1 + idle / kEwmaDecayNs), 1));
          return decayed * (active + 1);
        };
        chosen = load(*a) <= load(*b) ? a : b;
      } else {
        chosen = ta ? a : (tb ? b : nullptr);
      }
      break;
    }
    case snapshot::Algorithm::kRingHash:
      if (state.ring != nullptr && !state.ring->hashes.empty()) {
        const runtime::HashRing& ring = *state.ring;
        const std::size_t size = ring.hashes.size();
        std::size_t at = ring.find(hash);
        // The next point whose endpoint takes traffic, at most one turn round the ring (each
        // endpoint has many points: after 4n of them every endpoint was seen).
        for (std::size_t walked = 0; walked < size && walked <= 4 * n; ++walked, ++at) {
          if (at == size) {
            at = 0;
          }
          const std::uint32_t owner = ring.owners[at];
          if (owner < n && takes(*eps[owner], now)) {
            chosen = eps[owner].get();
            break;
          }
        }
      }
      break;
  }
  if (chosen != nullptr) {
    return chosen;
  }
  // Round robin, and the fall-back of the others: the next endpoint that takes traffic.
  for (std::size_t tried = 0; tried < n; ++tried) {
    EndpointState* e = eps[cursor % n].get();
    cursor = static_cast<std::uint32_t>((cursor + 1) % n);
    if (takes(*e, now)) {
      if (state.runtime != nullptr && state.runtime->fail_open.load(std::memory_order_relaxed)) {
        state.runtime->fail_open.store(false, std::memory_order_relaxed);
      }
      return e;
    }
  }
  // None takes traffic: fail open, as the ALB does, rather than refuse everything.
  return failOpen(cursor, state);
}

std::size_t Balancer::split(const snapshot::Forward& forward, std::uint32_t split,
                            std::uint64_t sticky) {
  const auto& targets = forward.targets;
  if (sticky != 0) {
    for (std::size_t i = 0; i < targets.size(); ++i) {
      if (targets[i].key == sticky && targets[i].weight > 0) {
        return i;
      }
    }
  }
  if (targets.size() == 1) {
    return 0;
  }
  if (split >= splits_.size()) {
    splits_.resize(split + 1);
  }
  auto& current = splits_[split];
  if (current.size() != targets.size()) {
    current.assign(targets.size(), 0);
  }
  // Smooth weighted round robin: each target gains its weight, the largest is chosen and pays
  // the total. Deterministic and evenly interleaved (70/30 gives 7 of every 10).
  std::int64_t total = 0;
  std::size_t best = 0;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    current[i] += targets[i].weight;
    total += targets[i].weight;
    if (current[i] > current[best]) {
      best = i;
    }
  }
  current[best] -= total;
  return best;
}

void Balancer::rebind(const snapshot::Snapshot* old_snapshot, const snapshot::Snapshot& next) {
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
  if (old_snapshot == nullptr || !old_snapshot->sharesRoutesWith(next)) {
    splits_.clear();
  }
}

}  // namespace portico::lb
