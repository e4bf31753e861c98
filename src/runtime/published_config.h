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

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace portico::tls {
class SniTable;
}
namespace portico::metrics {
struct RouteStatsIndex;
}

namespace portico::runtime {

// How the proxy speaks TLS to one target group's endpoints (snapshot::BackendTls joined to its
// client context).
struct UpstreamTls {
  // Shared by every connection; verifies with the CA Secret's ca.crt, or nothing. Null: the
  // CA Secret asked for cannot be used, and every connection attempt fails.
  std::shared_ptr<ssl_ctx_st> ctx;
  std::string server_name;  // SNI, and the name verified
  bool verify = false;
};

// What a target group shares across workers and swaps besides its endpoints.
struct GroupRuntime {
  // Set by the workers when no endpoint was available and traffic spread over all of them.
  std::atomic<bool> fail_open{false};
};

// A consistent-hash ring over a target group's endpoints (ring_hash): built on the control
// thread when the endpoints change, read by every worker.
struct HashRing {
  // The points, sorted by hash: hashes[i] belongs to endpoint owners[i]. Split in two arrays so
  // a lookup's scan reads hashes only, eight to a cache line.
  std::vector<std::uint64_t> hashes;
  std::vector<std::uint32_t> owners;
  // buckets[b]: the first point whose hash's top kBucketBits bits are >= b (one more entry
  // than buckets), so a lookup scans the few points of one bucket instead of searching the
  // whole ring.
  static constexpr unsigned kBucketBits = 12;
  std::vector<std::uint32_t> buckets;
  // The first point at or after `hash` (hashes.size() when past the last).
  std::size_t find(std::uint64_t hash) const {
    const std::size_t b = hash >> (64 - kBucketBits);
    std::size_t lo = buckets[b];
    const std::size_t hi = buckets[b + 1];
    while (lo < hi && hashes[lo] < hash) {
      ++lo;
    }
    return lo;
  }
};

// The hash ring_hash places keys and endpoints with: FNV-1a, then a 64-bit finalizer.
std::uint64_t hashKey(std::string_view key);

struct TargetGroupState {
  std::vector<std::shared_ptr<EndpointState>> endpoints;  // [endpoint index in the snapshot]
  std::shared_ptr<const UpstreamTls> tls;                 // null: plain HTTP
  std::shared_ptr<GroupRuntime> runtime;                  // never null once bound
  std::shared_ptr<const HashRing> ring;                   // ring_hash only
  // The target group's settings in the snapshot this state was bound with.
  const snapshot::TargetGroupSettings* settings = nullptr;
};

// The client contexts of a publish: the one that verifies nothing, and one per backend CA
// Secret whose ca.crt passed its check (src/tls builds them once per Secret version).
struct UpstreamContexts {
  std::shared_ptr<ssl_ctx_st> unverified;
  std::unordered_map<std::string, std::shared_ptr<ssl_ctx_st>> by_ca_secret;
};

struct PublishedConfig {
  std::shared_ptr<const snapshot::Snapshot> snapshot;
  std::vector<TargetGroupState> target_groups;  // [target group index]
  std::vector<std::uint32_t> pool_ids;          // every pool id this config names, sorted
  std::uint64_t generation = 0;
  // The certificates this config serves by SNI name (src/tls); null without an HTTPS listener.
  std::shared_ptr<const tls::SniTable> sni;
  // Which request series each route records into (src/metrics); null when metrics are off.
  std::shared_ptr<const metrics::RouteStatsIndex> request_stats;
};

}  // namespace portico::runtime
