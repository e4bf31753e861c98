#pragma once
// What the proxy workers swap: a snapshot bound to the runtime state that outlives it
// (DESIGN.md, "Mutable runtime state lives outside the snapshot").
//
// Immutable once built; shared as std::shared_ptr<const PublishedConfig>. A request holds the
// bundle from its headers to its end, as it holds the snapshot. Indexes are the snapshot's
// dense ones: target_groups[i] belongs to snapshot->targetGroups()[i], and its endpoints are in
// the snapshot target group's endpoint order.

#include "runtime/endpoint_state.h"
#include "snapshot/snapshot.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace portico::tls {
class SniTable;
}

namespace portico::runtime {

struct TargetGroupState {
  std::vector<std::shared_ptr<EndpointState>> endpoints;  // [endpoint index in the snapshot]
};

struct PublishedConfig {
  std::shared_ptr<const snapshot::Snapshot> snapshot;
  std::vector<TargetGroupState> target_groups;  // [target group index]
  std::vector<std::uint32_t> pool_ids;          // every pool id this config names, sorted
  std::uint64_t generation = 0;
  // The certificates this config serves by SNI name (src/tls); null without an HTTPS listener.
  std::shared_ptr<const tls::SniTable> sni;
};

}  // namespace portico::runtime
