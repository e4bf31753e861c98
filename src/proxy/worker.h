#pragma once
// Internal to src/proxy: one worker's state. Everything here is touched only on the worker's
// own thread, except the atomics.

#include "common/clock.h"
#include "lb/balancer.h"
#include "metrics/registry.h"
#include "metrics/request_stats.h"
#include "proxy/access_log.h"
#include "proxy/config.h"
#include "proxy/deadline_stream.h"
#include "proxy/net.h"
#include "proxy/upstream_connector.h"
#include "proxy/upstream_pool.h"
#include "runtime/published_config.h"

#include <array>
#include <atomic>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_set>

namespace boost::asio::ssl {
class context;
}

namespace portico::tls {
class TicketKeys;
}

namespace portico::proxy {

// A worker's own counters: only its thread writes them (no locked instruction, no cache line
// shared with another worker); ProxyMetrics' collector sums the workers' at each scrape.
struct WorkerStats {
  metrics::LocalCounter connections_accepted;
  metrics::LocalCounter accept_errors;
  metrics::LocalCounter requests;
  metrics::LocalCounter upstream_connect_errors;
  metrics::LocalCounter upstream_retries;
  metrics::LocalCounter upstream_reuses;
  metrics::LocalCounter upstream_truncated;
  metrics::LocalCounter client_aborts;
  metrics::LocalCounter rejected_requests;
  metrics::LocalCounter snapshot_swaps;
  metrics::LocalCounter tls_handshakes;
  metrics::LocalCounter tls_resumed;
  metrics::LocalCounter upstream_tls_handshakes;
  metrics::LocalCounter upstream_tls_errors;
  metrics::LocalCounter upstream_ejections;
  metrics::LocalCounter access_log_dropped;
  // TLS handshakes that failed, by reason (tls_stream.h: handshakeErrorReason gives the index).
  static constexpr std::array<const char*, 5> kTlsHandshakeErrorReasons = {
      "timeout", "not_tls", "protocol", "client_closed", "other"};
  std::array<metrics::LocalCounter, 5> tls_handshake_errors;
  // Requests that failed because of their upstream, by reason: the label of each index.
  enum UpstreamError : std::size_t {
    kConnectRefused,
    kConnectTimeout,
    kResponseTimeout,
    kReset,
    kInvalidResponse,
    kTruncated,
    kNoEndpoint,
  };
  static constexpr std::array<const char*, 7> kUpstreamErrorReasons = {
      "connect_refused",  "connect_timeout", "response_timeout", "reset",
      "invalid_response", "truncated",       "no_endpoint"};
  std::array<metrics::LocalCounter, 7> upstream_errors;
  // Client connections by state: reading a request head (or the TLS handshake), writing (a
  // request is being answered), idle (keep-alive, between requests).
  metrics::LocalGauge connections_reading;
  metrics::LocalGauge connections_writing;
  metrics::LocalGauge connections_idle;
};

struct Worker;

// The proxy's metric families: the workers' counters summed at scrape time, and the per-route
// request series (metrics::RequestStatsTable).
class ProxyMetrics final {
 public:
  explicit ProxyMetrics(metrics::Registry& r) : registry_(r) {}
  ~ProxyMetrics() { detach(); }
  // From start(), once the workers exist; detach() before they are destroyed.
  void attach(const std::vector<std::unique_ptr<Worker>>& workers);
  void detach();
  metrics::Registry& registry() { return registry_; }

 private:
  void collect(metrics::Exposition& out) const;
  metrics::Registry& registry_;
  std::vector<const Worker*> workers_;
  std::uint64_t collector_ = 0;
};

// What the worker knows of a client connection: enough to drain it.
class ClientConnection {
 public:
  // Worker is draining: close now if idle between requests, else after the current response.
  virtual void drain() = 0;

 protected:
  ~ClientConnection() = default;
};

// A request that holds an endpoint (Exchange): told when the endpoint's deregistration delay
// ran out while it still talks to it.
// Linked into the worker's list (an intrusive one: joining and leaving it per request costs two
// pointer writes, no hashing, no allocation).
class EndpointHolder {
 public:
  virtual runtime::EndpointState* heldEndpoint() const = 0;
  virtual void deregistrationExpired() = 0;

 protected:
  ~EndpointHolder() = default;

 private:
  friend struct Worker;
  EndpointHolder* prev_holder_ = nullptr;
  EndpointHolder* next_holder_ = nullptr;
  bool linked_ = false;
};

// The series a matched request records into (RouteStatsIndex), or null.
metrics::RequestStats* routeStatsFor(const runtime::PublishedConfig& config,
                                     const snapshot::RouteMatch& match, std::uint32_t target_group);

struct Worker {
  Worker(const ProxyConfig& config, int index, const Clock& clock, std::uint64_t seed);

  const std::string& date();  // the Date header value, refreshed once a second
  // Counts an answered request: in its route's series (null: the unmatched one, if metrics are
  // on) and in this worker's total; and logs it.
  void countRequest(metrics::RequestStats* route, const metrics::RequestSample& sample,
                    const AccessRecord* record);
  // Unix time in nanoseconds, for the access log.
  std::int64_t wallNs() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock.wallNow().time_since_epoch())
        .count();
  }
  // 32 lower-case hex digits into `out`.
  void newRequestId(char* out);

  const ProxyConfig& config;
  const Clock& clock;
  const int index;
  WorkerStats stats;
  // Requests no route took (null when per-route metrics are off), and the access log's ring for
  // this worker (null when access logs are off): the server's, set before the worker runs.
  metrics::RequestStats* unmatched_stats = nullptr;
  AccessLogWriter* access_log = nullptr;
  AccessLogFormat access_log_format = AccessLogFormat::kOff;
  // Declared before the io_context: connections that die while it is destroyed unregister here.
  std::unordered_set<ClientConnection*> connections;
  // The requests holding an endpoint now; checked once a second against draining endpoints'
  // deregistration deadlines (drainTick).
  void linkHolder(EndpointHolder* h) {
    if (h->linked_) {
      return;
    }
    h->linked_ = true;
    h->prev_holder_ = nullptr;
    h->next_holder_ = holders;
    if (holders != nullptr) {
      holders->prev_holder_ = h;
    }
    holders = h;
  }
  void unlinkHolder(EndpointHolder* h) {
    if (!h->linked_) {
      return;
    }
    h->linked_ = false;
    if (h->prev_holder_ != nullptr) {
      h->prev_holder_->next_holder_ = h->next_holder_;
    } else {
      holders = h->next_holder_;
    }
    if (h->next_holder_ != nullptr) {
      h->next_holder_->prev_holder_ = h->prev_holder_;
    }
    h->prev_holder_ = h->next_holder_ = nullptr;
  }
  template <class F>
  void forEachHolder(F&& f) const {
    for (EndpointHolder* h = holders; h != nullptr; h = h->next_holder_) {
      f(h);
    }
  }
  static bool isLinked(const EndpointHolder* h) { return h->linked_; }
  EndpointHolder* holders = nullptr;
  bool draining = false;
  std::atomic<std::size_t> connection_count{0};
  std::atomic<std::uint64_t> installed_generation{0};
  std::atomic<std::size_t> pool_idle{0};  // the pool's idle connections, refreshed each second

  // One thread runs it; other threads only post to it (publish, drain). UNSAFE_IO drops the
  // per-descriptor locks of the reactor, which guard against I/O on one socket from several
  // threads: every socket here is used on this worker's thread only. Posting stays locked.
  net::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  Deadlines deadlines;  // after ioc: destroyed first, it detaches the streams it still holds
  std::shared_ptr<const runtime::PublishedConfig> published;
  lb::Balancer balancer;
  UpstreamPool pool;
  std::unique_ptr<UpstreamConnector> connector;
  std::optional<net::basic_socket_acceptor<tcp, WorkerExecutor>> acceptor;
  net::steady_timer accept_backoff;
  net::steady_timer drain_tick;  // once a second: requests past their endpoint's deadline
  std::uint16_t listen_port = 0;
  std::string listen_port_text;  // X-Forwarded-Port
  // HTTPS: its acceptor, port, and the server's front context that TLS connections start with.
  std::optional<net::basic_socket_acceptor<tcp, WorkerExecutor>> tls_acceptor;
  std::string tls_listen_port_text;
  boost::asio::ssl::context* tls_context = nullptr;
  tls::TicketKeys* ticket_keys = nullptr;  // the server's
  Random rng;
  std::time_t date_second = 0;
  std::string date_value;
  std::thread thread;
};

}  // namespace portico::proxy
