#pragma once
// Internal to src/proxy: one worker's state. Everything here is touched only on the worker's
// own thread, except the atomics.

#include "common/clock.h"
#include "lb/balancer.h"
#include "metrics/registry.h"
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

// Proxy counters, registered once; updated lock-free from every worker.
struct ProxyMetrics {
  explicit ProxyMetrics(metrics::Registry& r);
  metrics::Counter& requestsFor(unsigned status);

  metrics::Registry& registry;  // for the per-worker series, registered by each Worker

  std::array<metrics::Counter*, 6> requests_by_class{};  // index status/100; 0 for "other"
  metrics::Counter& connections_accepted;
  metrics::Counter& accept_errors;
  metrics::Counter& upstream_connect_errors;
  metrics::Counter& upstream_retries;
  metrics::Counter& upstream_reuses;
  metrics::Counter& upstream_truncated;
  metrics::Counter& client_aborts;
  metrics::Counter& rejected_requests;
  metrics::Counter& snapshot_swaps;
  metrics::Gauge& connections_active;
  metrics::Counter& tls_handshakes;
  metrics::Counter& tls_resumed;
  // TLS handshakes that failed, by reason (tls_stream.h: handshakeErrorReason gives the index):
  // registered once, so a flood of bad handshakes never takes the registry's lock.
  static constexpr std::array<const char*, 5> kTlsHandshakeErrorReasons = {
      "timeout", "not_tls", "protocol", "client_closed", "other"};
  std::array<metrics::Counter*, 5> tls_handshake_errors{};
  metrics::Counter& upstream_tls_handshakes;
  metrics::Counter& upstream_tls_errors;
  metrics::Counter& upstream_ejections;
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

struct Worker {
  Worker(const ProxyConfig& config, ProxyMetrics& metrics, int index, const Clock& clock,
         std::uint64_t seed);

  const std::string& date();  // the Date header value, refreshed once a second
  // Counts an answered request, by status class and for this worker.
  void countRequest(unsigned status) {
    metrics.requestsFor(status).inc();
    requests.inc();
  }
  // 32 lower-case hex digits into `out`.
  void newRequestId(char* out);

  const ProxyConfig& config;
  ProxyMetrics& metrics;
  const Clock& clock;
  const int index;
  // This worker's series (worker="index"): how evenly SO_REUSEPORT spreads the load.
  metrics::Counter& accepted;
  metrics::Counter& requests;
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
