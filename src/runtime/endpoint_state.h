#pragma once
// Runtime state of one endpoint of one target group: what must survive snapshot swaps (health,
// ejection, in-flight requests). Created and joined to snapshots by RuntimeState on the control
// thread; read and updated lock-free by every worker and, later, by health checkers.
//
// Identity: (target group id, address, port). The same pod in two target groups has two states
// (its health check may differ per target group) but one pool id (connections are shared)
// when both speak to it the same way.

#include "snapshot/snapshot.h"

#include <atomic>
#include <cstdint>
#include <string>

namespace portico::runtime {

// The flavor of a target group's connections: "" for plain HTTP; "tls;SNI;CA" for TLS.
inline std::string upstreamFlavor(const snapshot::TargetGroup& tg) {
  return tg.tls ? "tls;" + tg.tls->server_name + ";" + tg.tls->ca_secret : std::string();
}

// Health bits; an endpoint takes new traffic when none is set.
enum HealthBit : std::uint8_t {
  kFailedActiveCheck = 1u << 0,  // the active health checker marked it down
  kEjected = 1u << 1,            // passive outlier detection ejected it until ejected_until_ns
};

struct EndpointState {
  EndpointState(std::string target_group_id, snapshot::Endpoint endpoint, std::uint32_t pool_id,
                std::string flavor = {})
      : target_group(std::move(target_group_id)),
        endpoint(std::move(endpoint)),
        flavor(std::move(flavor)),
        pool_id(pool_id) {}
  EndpointState(const EndpointState&) = delete;
  EndpointState& operator=(const EndpointState&) = delete;

  bool healthy() const { return health.load(std::memory_order_relaxed) == 0; }

  const std::string target_group;
  const snapshot::Endpoint endpoint;
  // How connections to it are made: "" for plain HTTP, else the TLS settings (upstreamFlavor).
  // Connections of one flavor are never handed to another.
  const std::string flavor;
  // Dense and stable for (address, port, flavor) while any snapshot names it: the key of the
  // per-worker upstream pools, so a pick never builds or hashes a string.
  const std::uint32_t pool_id;

  std::atomic<std::uint8_t> health{0};
  std::atomic<std::int64_t> ejected_until_ns{0};
  std::atomic<std::uint32_t> active_requests{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> failures{0};
};

}  // namespace portico::runtime
