#pragma once
// Access logs: one line per request on stdout, as JSON (the default), in ingress-nginx's default
// text format, or off (--access-log-format).
//
// A worker never blocks on logging: it formats the line into its own bounded ring (single
// producer, single consumer) and goes on; one writer thread drains every ring to the file
// descriptor. A line that does not fit (the writer is behind, stdout is slow) is dropped and
// counted (portico_access_log_dropped_lines_total).
//
// No Asio or Beast here: the formatters are unit-tested on their own.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace portico::proxy {

enum class AccessLogFormat { kJson, kNginx, kOff };

// One request, as the exchange saw it; views stay valid for the formatter call only.
struct AccessRecord {
  std::int64_t wall_ns = 0;  // when the response ended (unix time, ns)
  std::string_view request_id;
  std::string_view client;  // the peer address
  std::string_view method;
  std::string_view host;    // as the client sent it
  std::string_view target;  // the request target as received (path and query)
  int version = 11;         // 10 or 11
  unsigned status = 0;
  std::uint64_t bytes_in = 0;   // head and body
  std::uint64_t bytes_out = 0;  // head and body
  std::uint64_t body_bytes_out = 0;
  std::uint64_t duration_ns = 0;
  std::string_view upstream;  // the endpoint's address, or empty
  std::uint16_t upstream_port = 0;
  unsigned upstream_status = 0;
  std::uint64_t upstream_duration_ns = 0;
  std::uint64_t upstream_bytes = 0;  // response body bytes read from the upstream
  std::string_view ns;
  std::string_view ingress;
  std::string_view service;
  std::string_view target_group;  // the proxy_upstream_name of the nginx format
  std::string_view referer;
  std::string_view user_agent;
};

// Appends one line (with its '\n'). Control bytes, quotes and backslashes in client-sent text
// are escaped, so a line is always one valid JSON object, or one nginx line.
void formatAccessJson(const AccessRecord& r, std::string& out);
void formatAccessNginx(const AccessRecord& r, std::string& out);
// The same into `scratch`, which only grows, for the hot path: returns the line (a view into
// scratch). `format` is kJson or kNginx.
std::string_view formatAccessLine(AccessLogFormat format, const AccessRecord& r,
                                  std::string& scratch);

// A byte ring with one producer (a worker) and one consumer (the writer).
class AccessLogRing final {
 public:
  explicit AccessLogRing(std::size_t capacity);
  // Producer: the whole line, or nothing (false: no room).
  bool push(std::string_view line);
  // Producer: more than half full (time to wake the writer rather than wait for its tick).
  bool pastHalf() const {
    return head_.load(std::memory_order_relaxed) - tail_.load(std::memory_order_relaxed) >
           capacity_ / 2;
  }
  // Consumer: what is buffered, as up to two spans (the ring wraps), left in place until
  // consume(); returns their total size.
  std::size_t peek(std::string_view& first, std::string_view& second) const;
  void consume(std::size_t n);
  // Consumer: appends what is buffered to `out` and consumes it; returns the bytes taken.
  std::size_t drain(std::string& out);
  // Producer scratch space, so formatting a line allocates nothing once warm.
  std::string scratch;

 private:
  const std::size_t capacity_;
  std::unique_ptr<char[]> data_;
  alignas(64) std::atomic<std::uint64_t> head_{0};  // written by the producer
  alignas(64) std::atomic<std::uint64_t> tail_{0};  // written by the consumer
};

class AccessLogWriter final {
 public:
  // One ring of `ring_bytes` per worker (--access-log-buffer); lines go to `fd` (stdout).
  AccessLogWriter(std::size_t workers, std::size_t ring_bytes, int fd);
  ~AccessLogWriter();  // writes what is buffered, then stops
  AccessLogRing& ring(std::size_t worker) { return *rings_[worker]; }
  // Producer side: wakes the writer if it sleeps. The writer also wakes every 50 ms by itself,
  // so a worker pokes only when its ring is past half full: no wake-up per line.
  void poke();
  // Writes everything pushed before this call, and returns once it is written.
  void flush();

 private:
  void run();
  std::size_t writeRings();
  std::vector<std::unique_ptr<AccessLogRing>> rings_;
  const int fd_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::condition_variable flushed_;
  std::atomic<bool> sleeping_{false};
  bool stop_ = false;
  std::uint64_t flush_requests_ = 0;
  std::uint64_t flushes_done_ = 0;
  std::thread thread_;
};

}  // namespace portico::proxy
