#pragma once
// Per-worker pool of idle keep-alive upstream connections, keyed by endpoint.
//
// Thread: owned by one worker, used only on its thread. The pool is keyed by endpoint, not by
// snapshot, so a snapshot swap keeps every idle connection whose endpoint is still wanted.

#include "proxy/net.h"

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace portico::proxy {

// Beast sizes each read by the buffer's free capacity (at least 512 bytes); a buffer that never
// grows would read a streamed body 512 bytes at a time. Reserve enough for large reads.
inline constexpr std::size_t kReadBufferReserve = 16 * 1024;

struct UpstreamConn {
  explicit UpstreamConn(net::io_context& ioc) : stream(ioc) { buffer.reserve(kReadBufferReserve); }
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  std::string key;      // endpoint key, see endpointKey()
  bool reused = false;  // came from the pool: may have been closed by the peer meanwhile
  std::chrono::steady_clock::time_point idle_since;
};

std::string endpointKey(const std::string& address, std::uint16_t port);

class UpstreamPool final {
 public:
  // A connection idle for less than `recheck_after` is reused without checking that the peer
  // kept it open (one syscall saved on the busiest path).
  UpstreamPool(net::io_context& ioc, std::size_t max_idle_per_endpoint,
               std::chrono::milliseconds idle_timeout,
               std::chrono::milliseconds recheck_after = std::chrono::milliseconds(250));

  // A pooled connection to `key` that still looks open, or nullptr.
  std::unique_ptr<UpstreamConn> take(const std::string& key);
  // Keeps `conn` for reuse (it must have finished a whole exchange, with nothing buffered).
  void put(std::unique_ptr<UpstreamConn> conn);
  // Closes idle connections to endpoints not in `keys`.
  void retain(const std::unordered_set<std::string>& keys);
  void clear();
  std::size_t idleCount() const;

 private:
  void armSweep();
  void sweep();

  std::size_t max_idle_per_endpoint_;
  std::chrono::milliseconds idle_timeout_;
  std::chrono::milliseconds recheck_after_;
  std::unordered_map<std::string, std::vector<std::unique_ptr<UpstreamConn>>> idle_;
  net::steady_timer sweep_timer_;
  bool sweep_armed_ = false;
};

}  // namespace portico::proxy
