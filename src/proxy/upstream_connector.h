#pragma once
// How an exchange gets a connection to an endpoint: reuse a pooled one or open a new one, and
// give it back when the exchange is done (CONVENTIONS.md rule 1: the upstream connector is an
// interface, so that an exchange can be tested against a scripted fake).
//
// Thread: one per worker, used only on the worker's thread.

#include "proxy/net.h"
#include "proxy/upstream_pool.h"
#include "runtime/endpoint_state.h"
#include "runtime/published_config.h"

#include <chrono>
#include <functional>

namespace portico::proxy {

class UpstreamConnector {
 public:
  virtual ~UpstreamConnector() = default;
  // A pooled connection to `endpoint` that looks open, or nullptr. Over TLS, only one made
  // with `tls`'s context: a CA Secret that changed leaves the connections it verified unused.
  virtual UpstreamConnPtr reuse(const runtime::EndpointState& endpoint,
                                const runtime::UpstreamTls* tls) = 0;
  // A new connection to `endpoint`, over TLS when `tls` is set (the handshake is part of the
  // connection, under the same timeout); `done` is called once, on the worker's thread, with the
  // outcome (beast::error::timeout after `timeout`).
  virtual UpstreamConnPtr connect(const runtime::EndpointState& endpoint,
                                  const runtime::UpstreamTls* tls,
                                  std::chrono::milliseconds timeout,
                                  std::function<void(error_code)> done) = 0;
  // The exchange finished a whole response on `conn` with nothing left over: keep it.
  virtual void release(UpstreamConnPtr conn) = 0;
};

// The real one: TCP connections, pooled per worker.
class PooledConnector final : public UpstreamConnector {
 public:
  PooledConnector(Deadlines& deadlines, UpstreamPool& pool) : deadlines_(deadlines), pool_(pool) {}
  UpstreamConnPtr reuse(const runtime::EndpointState& endpoint,
                        const runtime::UpstreamTls* tls) override {
    while (UpstreamConnPtr conn = pool_.take(endpoint.pool_id)) {
      if (tls == nullptr || conn->tls_ctx == tls->ctx.get()) {
        return conn;
      }
    }
    return nullptr;
  }
  UpstreamConnPtr connect(const runtime::EndpointState& endpoint, const runtime::UpstreamTls* tls,
                          std::chrono::milliseconds timeout,
                          std::function<void(error_code)> done) override;
  void release(UpstreamConnPtr conn) override { pool_.put(std::move(conn)); }

 private:
  Deadlines& deadlines_;
  UpstreamPool& pool_;
};

}  // namespace portico::proxy
