#pragma once
// The registry of runtime state, owned by the control thread: binds each new snapshot to the
// state that survives swaps, by stable key, as Pingora's Backends::do_update carries Health by
// hash key. An endpoint that stays in a target group keeps its EndpointState (health, counters);
// one that leaves is dropped once no published config holds it.
//
// Thread: bind() from one control thread at a time. The configs it returns are immutable and
// may be read from any thread.

#include "runtime/published_config.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>

namespace portico::runtime {

class RuntimeState final {
 public:
  std::shared_ptr<const PublishedConfig> bind(std::shared_ptr<const snapshot::Snapshot> snapshot);

  std::size_t endpointCount() const { return endpoints_.size(); }

 private:
  using EndpointKey = std::pair<std::string, snapshot::Endpoint>;  // (target group, endpoint)
  std::map<EndpointKey, std::shared_ptr<EndpointState>> endpoints_;
  std::map<snapshot::Endpoint, std::uint32_t> pool_ids_;
  std::uint32_t next_pool_id_ = 0;
  std::uint64_t generation_ = 0;
};

}  // namespace portico::runtime
