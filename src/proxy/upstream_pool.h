#pragma once
// Per-worker pool of idle keep-alive upstream connections, keyed by the endpoint's dense pool id
// (runtime::EndpointState::pool_id), so a take() never builds or hashes a string.
//
// Thread: owned by one worker, used only on its thread. The pool is keyed by endpoint, not by
// snapshot, so a snapshot swap keeps every idle connection whose endpoint is still wanted.
// Ownership: connections are shared_ptr because an asynchronous operation still pending on a
// connection that an exchange gave up holds it (and its buffer and parser) until it completes.

#include "common/clock.h"
#include "proxy/h1_parser.h"
#include "proxy/net.h"
#include "proxy/upstream_stream.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

namespace portico::proxy {

// Beast sizes each read by the buffer's free capacity (at least 512 bytes); a buffer that never
// grows would read a streamed body 512 bytes at a time. Reserve enough for large reads.
inline constexpr std::size_t kReadBufferReserve = 16 * 1024;

struct UpstreamConn {
  explicit UpstreamConn(Deadlines& deadlines) : stream(deadlines) {
    buffer.reserve(kReadBufferReserve);
  }
  UpstreamStream stream;  // plain TCP, or TLS over it
  beast::flat_buffer buffer;
  // The response being read on this connection; it lives here, not in the exchange, so that a
  // read still pending when the exchange drops the connection has its parser until it ends.
  H1Parser parser{H1Parser::Kind::kResponse};
  std::uint32_t pool_id = 0;
  // TLS: the client context the connection was verified with (alive while the connection is:
  // its SSL holds it). A pooled one is reused only while its target group still has it.
  ssl_ctx_st* tls_ctx = nullptr;
  bool reused = false;  // came from the pool: may have been closed by the peer meanwhile
  std::chrono::steady_clock::time_point idle_since;
};
using UpstreamConnPtr = std::shared_ptr<UpstreamConn>;

class UpstreamPool final {
 public:
  // A connection idle for less than `recheck_after` is reused without checking that the peer
  // kept it open (one syscall saved on the busiest path).
  UpstreamPool(net::io_context& ioc, const Clock& clock, std::size_t max_idle_per_endpoint,
               std::chrono::milliseconds idle_timeout,
               std::chrono::milliseconds recheck_after = std::chrono::milliseconds(250));

  // A pooled connection to endpoint `pool_id` that still looks open, or nullptr.
  UpstreamConnPtr take(std::uint32_t pool_id);
  // Keeps `conn` for reuse (it must have finished a whole exchange, with nothing buffered).
  void put(UpstreamConnPtr conn);
  // Closes idle connections to endpoints not in `pool_ids` (sorted).
  void retain(const std::vector<std::uint32_t>& pool_ids);
  void clear();
  std::size_t idleCount() const;

 private:
  void armSweep();
  void sweep();

  const Clock& clock_;
  std::size_t max_idle_per_endpoint_;
  std::chrono::milliseconds idle_timeout_;
  std::chrono::milliseconds recheck_after_;
  std::unordered_map<std::uint32_t, std::vector<UpstreamConnPtr>> idle_;
  net::steady_timer sweep_timer_;
  bool sweep_armed_ = false;
};

}  // namespace portico::proxy
