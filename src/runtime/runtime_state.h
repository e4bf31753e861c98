#pragma once
// The registry of runtime state, owned by the control thread: binds each new snapshot to the
// state that survives swaps, by stable key, as Pingora's Backends::do_update carries Health by
// hash key. An endpoint that stays in a target group keeps its EndpointState (health, counters);
// one that leaves is dropped once no published config holds it.
//
// Cost: one hash lookup per endpoint of the snapshot and a sweep of the entries no snapshot
// names any more; no key is copied (keys are views into the EndpointStates the maps hold) and,
// when the endpoints stay, nothing is allocated but the new config's vectors.
//
// Thread: bind() from one control thread at a time. The configs it returns are immutable and
// may be read from any thread.

#include "runtime/published_config.h"

#include <cstdint>
#include <memory>
#include <string_view>
#include <unordered_map>

namespace portico::runtime {

class RuntimeState final {
 public:
  std::shared_ptr<const PublishedConfig> bind(std::shared_ptr<const snapshot::Snapshot> snapshot);

  std::size_t endpointCount() const { return endpoints_.size(); }

 private:
  // (address, port), and (target group, address, port): views into an EndpointState held by
  // the map the key is in.
  struct AddressKey {
    std::string_view address;
    std::uint16_t port;
    bool operator==(const AddressKey&) const = default;
  };
  struct EndpointKey {
    std::string_view target_group;
    AddressKey address;
    bool operator==(const EndpointKey&) const = default;
  };
  struct Hash {
    std::size_t operator()(const AddressKey& k) const;
    std::size_t operator()(const EndpointKey& k) const;
  };
  struct Entry {
    std::shared_ptr<EndpointState> state;
    std::uint64_t seen;  // the generation of the last bind that named it
  };
  struct Pool {
    std::uint32_t id;
    std::shared_ptr<const EndpointState> owner;  // keeps the key's address alive
    std::uint64_t seen;
  };

  std::unordered_map<EndpointKey, Entry, Hash> endpoints_;
  std::unordered_map<AddressKey, Pool, Hash> pool_ids_;
  std::uint32_t next_pool_id_ = 0;
  std::uint64_t generation_ = 0;
};

}  // namespace portico::runtime
