#pragma once
// The registry of runtime state, owned by the control thread: binds each new snapshot to the
// state that survives swaps, by stable key, as Pingora's Backends::do_update carries Health by
// hash key. An endpoint that stays in a target group keeps its EndpointState (health, counters);
// one that leaves is dropped once no published config holds it.
//
// Cost: one hash lookup per target group; a group whose endpoints did not change keeps its
// states as they are, so an EndpointSlice change at 10,000 target groups touches one group.
// Pool ids are counted per address (the endpoints of every group that use it) and freed at zero.
//
// ring_hash groups get their ring here, when their endpoints change: never on a worker.
//
// Input: each target group's endpoints sorted and de-duplicated, as the compiler makes them.
//
// Thread: bind() from one control thread at a time. The configs it returns are immutable and
// may be read from any thread.

#include "runtime/published_config.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace portico::runtime {

class RuntimeState final {
 public:
  // `sni` (may be null) is carried as is: the certificates the config serves. Each TLS target
  // group gets its client context from `upstream` (by its CA Secret, or the unverified one).
  // `now_ns` (steady clock) starts the slow-start window of endpoints that join a group that
  // already had some.
  std::shared_ptr<const PublishedConfig> bind(
      std::shared_ptr<const snapshot::Snapshot> snapshot,
      std::shared_ptr<const tls::SniTable> sni = nullptr,
      std::shared_ptr<const metrics::RouteStatsIndex> request_stats = nullptr,
      const UpstreamContexts& upstream = {}, std::int64_t now_ns = 0);

  // Endpoint states held for the last bound snapshot (one per endpoint per target group).
  std::size_t endpointCount() const;

 private:
  // (address, port, flavor): views into the EndpointState that owns the pool entry.
  struct AddressKey {
    std::string_view address;
    std::uint16_t port;
    std::string_view flavor;
    bool operator==(const AddressKey&) const = default;
  };
  struct Hash {
    std::size_t operator()(const AddressKey& k) const;
  };
  struct Group {
    std::string flavor;                         // upstreamFlavor() of the target group
    std::vector<snapshot::Endpoint> endpoints;  // as last bound
    TargetGroupState state;                     // state.endpoints[i] is endpoints[i]'s
    std::uint64_t seen = 0;                     // the generation of the last bind naming it
    snapshot::Algorithm ring_for = snapshot::Algorithm::kRoundRobin;  // state.ring built for
  };
  struct Pool {
    std::uint32_t id;
    std::shared_ptr<const EndpointState> owner;  // keeps the key's address alive
    std::uint32_t users;                         // endpoint states of bound groups using it
  };

  void rebind(Group& group, const snapshot::TargetGroup& tg, std::int64_t now_ns);
  // Counts `state` as a user of its address's pool, made (keyed by state's address) if new.
  std::uint32_t acquirePool(const std::shared_ptr<EndpointState>& state);
  void releasePool(const EndpointState& state);

  std::unordered_map<std::string, Group> groups_;
  std::unordered_map<AddressKey, Pool, Hash> pools_;
  std::vector<std::uint32_t> pool_list_;  // sorted ids of pools_
  bool pools_changed_ = false;
  std::uint32_t next_pool_id_ = 0;
  std::uint64_t generation_ = 0;
};

}  // namespace portico::runtime
