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
#include <string>
#include <unordered_map>
#include <vector>

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace portico::tls {
class SniTable;
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

struct TargetGroupState {
  std::vector<std::shared_ptr<EndpointState>> endpoints;  // [endpoint index in the snapshot]
  std::shared_ptr<const UpstreamTls> tls;                 // null: plain HTTP
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
};

}  // namespace portico::runtime
