#pragma once
// Runtime state of one endpoint of one target group: what must survive snapshot swaps (health,
// ejection, in-flight requests). Created and joined to snapshots by RuntimeState on the control
// thread; read and updated lock-free by every worker and, later, by health checkers.
//
// Identity: (target group id, address, port). The same pod in two target groups has two states
// (its health check may differ per target group) but one pool id (connections are shared)
// when both speak to it the same way.

#include "snapshot/snapshot.h"

#include <algorithm>
#include <atomic>
#include <chrono>
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

// Nanoseconds on the steady clock (the Clock's now()), as the atomics below hold them.
inline std::int64_t steadyNs(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

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
  // Takes new requests at `now_ns`: healthy, or ejected only and its ejection is over (then
  // the ejection bit is cleared: it gets one more chance, and the next failures eject it
  // for twice as long).
  bool available(std::int64_t now_ns) {
    const std::uint8_t h = health.load(std::memory_order_relaxed);
    if (h == 0) {
      return true;
    }
    if (h == kEjected && ejected_until_ns.load(std::memory_order_relaxed) <= now_ns) {
      health.fetch_and(static_cast<std::uint8_t>(~kEjected), std::memory_order_relaxed);
      return true;
    }
    return false;
  }
  // Passive health: a request's outcome. A success resets the count (and, after the endpoint
  // was let back in, the ejection streak); `failures` failures in a row eject it.
  void recordSuccess() {
    if (consecutive_failures.load(std::memory_order_relaxed) != 0) {
      consecutive_failures.store(0, std::memory_order_relaxed);
    }
    if (ejections.load(std::memory_order_relaxed) != 0 &&
        (health.load(std::memory_order_relaxed) & kEjected) == 0) {
      ejections.store(0, std::memory_order_relaxed);
    }
  }
  // Returns true when this failure ejected the endpoint.
  bool recordFailure(std::int64_t now_ns, std::uint32_t failures, std::uint32_t ejection_seconds) {
    this->failures.fetch_add(1, std::memory_order_relaxed);
    if (failures == 0 ||
        consecutive_failures.fetch_add(1, std::memory_order_relaxed) + 1 < failures) {
      return false;
    }
    consecutive_failures.store(0, std::memory_order_relaxed);
    const std::uint32_t streak = std::min<std::uint32_t>(ejections.fetch_add(1), 10);
    const std::int64_t length = static_cast<std::int64_t>(ejection_seconds) * 1'000'000'000LL
                                << std::min(streak, 4u);
    ejected_until_ns.store(now_ns + length, std::memory_order_relaxed);
    health.fetch_or(kEjected, std::memory_order_relaxed);
    return true;
  }

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
  // Requests in flight, counted for the pickers that read it (least_request, ewma).
  std::atomic<std::uint32_t> active_requests{0};
  std::atomic<std::uint64_t> failures{0};
  std::atomic<std::uint32_t> consecutive_failures{0};
  std::atomic<std::uint32_t> ejections{0};  // in a row, without a success in between
  // Slow start: the window in which its share ramps up (both 0: none).
  std::atomic<std::int64_t> slow_start_begin_ns{0};
  std::atomic<std::int64_t> slow_start_end_ns{0};
  // EWMA of response latency, nanoseconds (peak-sensitive: a slower sample replaces it).
  std::atomic<std::int64_t> ewma_ns{0};
  std::atomic<std::int64_t> ewma_at_ns{0};
  // Set while the endpoint is terminating: no new requests, in-flight ones finish until
  // drain_deadline_ns (when it turned terminating, plus the deregistration delay).
  std::atomic<bool> draining{false};
  std::atomic<std::int64_t> drain_deadline_ns{0};
};

}  // namespace portico::runtime
