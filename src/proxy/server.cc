#include "proxy/server.h"

#include "common/log.h"
#include "health/checker.h"
#include "proxy/http1_connection.h"
#include "proxy/http_util.h"
#include "proxy/listen.h"
#include "proxy/tls_stream.h"
#include "proxy/worker.h"
#include "runtime/runtime_state.h"
#include "tls/ticket_keys.h"

#include <array>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

namespace portico::proxy {

ProxyMetrics::ProxyMetrics(metrics::Registry& r)
    : registry(r),
      connections_accepted(
          r.counter("portico_connections_accepted_total", "Client connections accepted.")),
      accept_errors(r.counter("portico_accept_errors_total",
                              "Failed accepts (EMFILE and others); the listener backs off.")),
      upstream_connect_errors(r.counter("portico_upstream_connect_errors_total",
                                        "Upstream connection attempts that failed.")),
      upstream_retries(r.counter("portico_upstream_retries_total",
                                 "Requests sent again to another endpoint after a safe failure.")),
      upstream_reuses(r.counter("portico_upstream_connection_reuses_total",
                                "Requests sent on a pooled keep-alive upstream connection.")),
      upstream_truncated(r.counter("portico_upstream_truncated_responses_total",
                                   "Responses cut short because the upstream failed mid-body.")),
      client_aborts(r.counter("portico_client_aborts_total",
                              "Requests the client abandoned before their response ended.")),
      rejected_requests(r.counter("portico_rejected_requests_total",
                                  "Requests refused as malformed, ambiguous or over a limit.")),
      snapshot_swaps(r.counter("portico_snapshot_swaps_total",
                               "Snapshots installed, counted once per worker.")),
      connections_active(r.gauge("portico_connections_active", "Open client connections.")),
      tls_handshakes(r.counter("portico_tls_handshakes_total", "TLS handshakes completed.")),
      tls_resumed(r.counter("portico_tls_resumed_handshakes_total",
                            "TLS handshakes completed that resumed a session (a ticket).")),
      upstream_tls_handshakes(r.counter("portico_upstream_tls_handshakes_total",
                                        "TLS handshakes with backends completed.")),
      upstream_tls_errors(r.counter(
          "portico_upstream_tls_handshake_errors_total",
          "TLS handshakes with backends that failed (verification, protocol, server name).")),
      upstream_ejections(r.counter(
          "portico_upstream_ejections_total",
          "Endpoints ejected by passive health checks (consecutive 5xx or connect failures).")) {
  for (std::size_t i = 0; i < kTlsHandshakeErrorReasons.size(); ++i) {
    tls_handshake_errors[i] =
        &r.counter("portico_tls_handshake_errors_total", "TLS handshakes that failed, by reason.",
                   {{"reason", kTlsHandshakeErrorReasons[i]}});
  }
  static constexpr const char* kClasses[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (std::size_t i = 0; i < requests_by_class.size(); ++i) {
    requests_by_class[i] =
        &r.counter("portico_requests_total", "Requests answered, by status class.",
                   {{"status_class", kClasses[i]}});
  }
}

metrics::Counter& ProxyMetrics::requestsFor(unsigned status) {
  const unsigned cls = status / 100;
  return *requests_by_class[cls >= 1 && cls <= 5 ? cls : 0];
}

namespace {
// Deadlines are enforced within a tenth of a second, or a quarter of the shortest timeout when
// one is shorter than 400 ms (tests).
std::chrono::milliseconds deadlineResolution(const ProxyConfig& c) {
  const std::chrono::milliseconds shortest =
      std::min({c.client_header_timeout, c.client_body_timeout, c.keepalive_timeout,
                c.client_send_timeout, c.upstream_connect_timeout, c.upstream_response_timeout});
  return std::clamp(shortest / 4, std::chrono::milliseconds(1), std::chrono::milliseconds(100));
}
}  // namespace

Worker::Worker(const ProxyConfig& cfg, ProxyMetrics& m, int idx, const Clock& clk,
               std::uint64_t seed)
    : config(cfg),
      metrics(m),
      clock(clk),
      index(idx),
      accepted(m.registry.counter("portico_worker_connections_accepted_total",
                                  "Client connections accepted, by worker.",
                                  {{"worker", std::to_string(idx)}})),
      requests(m.registry.counter("portico_worker_requests_total", "Requests answered, by worker.",
                                  {{"worker", std::to_string(idx)}})),
      deadlines(ioc, deadlineResolution(cfg)),
      balancer(seed ^ 0x5bd1e9955bd1e995ULL),
      pool(ioc, clk, cfg.max_idle_per_endpoint, cfg.upstream_idle_timeout),
      accept_backoff(ioc),
      drain_tick(ioc),
      rng(seed) {}

const std::string& Worker::date() {
  const std::time_t now = std::chrono::system_clock::to_time_t(clock.wallNow());
  if (now != date_second) {
    date_second = now;
    date_value = httpDate(now);
  }
  return date_value;
}

namespace {
// "00" to "ff": two digits per byte, one table load each.
constexpr std::array<std::array<char, 2>, 256> kHexPairs = [] {
  constexpr char kHex[] = "0123456789abcdef";
  std::array<std::array<char, 2>, 256> t{};
  for (std::size_t i = 0; i < 256; ++i) {
    t[i] = {kHex[i >> 4], kHex[i & 0xF]};
  }
  return t;
}();
}  // namespace

void Worker::newRequestId(char* out) {
  for (int half = 0; half < 2; ++half) {
    std::uint64_t v = rng.next();
    for (int i = 0; i < 8; ++i) {
      std::memcpy(out + half * 16 + i * 2, kHexPairs[v & 0xFF].data(), 2);
      v >>= 8;
    }
  }
}

namespace {
// How long the accept loop waits after running out of descriptors or memory before trying
// again: long enough for connections to close, short enough to be unnoticeable.
constexpr std::chrono::milliseconds kAcceptBackoff{50};

template <bool kTls>
void doAccept(Worker& w);

template <bool kTls>
void onAccept(Worker& w, error_code ec, Socket socket) {
  auto& acceptor = kTls ? w.tls_acceptor : w.acceptor;
  if (ec == net::error::operation_aborted || !acceptor || !acceptor->is_open()) {
    return;  // the listener was closed (drain)
  }
  if (ec) {
    w.metrics.accept_errors.inc();
    log::warn("accept failed", {{"worker", w.index}, {"error", ec.message()}});
    if (ec == net::error::no_descriptors || ec == net::error::no_buffer_space ||
        ec == net::error::no_memory || ec.value() == ENFILE) {
      w.accept_backoff.expires_after(kAcceptBackoff);
      w.accept_backoff.async_wait([&w](error_code tec) {
        if (!tec) {
          doAccept<kTls>(w);
        }
      });
      return;
    }
    doAccept<kTls>(w);
    return;
  }
  w.metrics.connections_accepted.inc();
  w.accepted.inc();
  if constexpr (kTls) {
    auto conn = std::make_shared<Http1Connection<TlsStream>>(
        w, TlsStream(DeadlineStream(w.deadlines, std::move(socket)), *w.tls_context));
    attachWorker(conn->stream(), w);
    conn->start();
  } else {
    std::make_shared<Http1Connection<DeadlineStream>>(
        w, DeadlineStream(w.deadlines, std::move(socket)))
        ->start();
  }
  doAccept<kTls>(w);
}

template <bool kTls>
void doAccept(Worker& w) {
  (kTls ? w.tls_acceptor : w.acceptor)->async_accept(w.ioc, [&w](error_code ec, Socket socket) {
    onAccept<kTls>(w, ec, std::move(socket));
  });
}
}  // namespace

struct Server::Impl {
  Impl(ProxyConfig c, metrics::Registry& r, ServerOptions o)
      : config(std::move(c)),
        metrics(r),
        options(std::move(o)),
        checker(r, 0x2545f4914f6cdd1dULL) {}
  ProxyConfig config;
  ProxyMetrics metrics;
  ServerOptions options;
  runtime::RuntimeState runtime;  // control thread only
  health::Checker checker;        // active health checks, on a thread of their own
  tls::SslCtxPtr default_tls;     // generated at start
  tls::SslCtxPtr upstream_unverified = tls::makeClientContext();  // backends without a CA
  tls::TicketKeys ticket_keys;                                    // session tickets, rotating
  std::unique_ptr<net::ssl::context> tls_context;  // the front context (tls_stream.h)
  std::vector<std::unique_ptr<Worker>> workers;    // after the contexts: destroyed first
  std::uint16_t port = 0;
  std::uint16_t https_port = 0;
  bool started = false;
  bool stopped = false;
};

Server::Server(ProxyConfig config, metrics::Registry& registry, ServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(config), registry, std::move(options))) {}

Server::~Server() { stop(); }

namespace {
// Requests still talking to an endpoint whose deregistration delay ran out are ended (the ALB's
// deregistration delay: in-flight requests get that long, then their connections close).
void drainTick(Worker& w) {
  w.drain_tick.expires_after(std::chrono::seconds(1));
  w.drain_tick.async_wait([&w](error_code ec) {
    if (ec) {
      return;
    }
    const std::int64_t now = runtime::steadyNs(w.clock.now());
    std::vector<EndpointHolder*> expired;
    w.forEachHolder([&](EndpointHolder* h) {
      const runtime::EndpointState* e = h->heldEndpoint();
      const std::int64_t deadline =
          e != nullptr ? e->drain_deadline_ns.load(std::memory_order_relaxed) : 0;
      if (deadline != 0 && now >= deadline && e->draining.load(std::memory_order_relaxed)) {
        expired.push_back(h);
      }
    });
    for (EndpointHolder* h : expired) {
      if (Worker::isLinked(h)) {  // an earlier one's end may have ended it too
        h->deregistrationExpired();
      }
    }
    drainTick(w);
  });
}
}  // namespace

Result<std::uint16_t> Server::start() {
  auto& cfg = impl_->config;
  std::uint16_t port = cfg.http_port;
  const int n = std::max(1, cfg.workers);
  const Clock& clock = impl_->options.clock != nullptr ? *impl_->options.clock : Clock::system();
  const std::uint64_t seed =
      impl_->options.seed != 0 ? impl_->options.seed : std::random_device{}() | 1u;
  std::uint16_t https_port = cfg.https_port > 0 ? static_cast<std::uint16_t>(cfg.https_port) : 0;
  if (cfg.https_port >= 0) {
    // The certificate for names nothing else serves, until a --default-ssl-certificate Secret
    // is published: self-signed, valid from an hour ago for a year.
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(clock.wallNow().time_since_epoch())
            .count();
    const tls::PemPair pem = tls::makeSelfSigned(tls::KeyType::kEcdsaP256, {"portico.invalid"},
                                                 now - 3600, now + 365 * 86400);
    tls::LoadedCertificate loaded = tls::loadCertificate(pem.cert, pem.key, now, cfg.tls);
    if (!loaded.check.ok) {
      return Error{"cannot make the default TLS certificate: " + loaded.check.reason};
    }
    impl_->default_tls = std::move(loaded.ctx);
    impl_->tls_context = makeFrontContext(impl_->default_tls);
    if (cfg.tls.session_tickets) {
      tls::TicketKeys::install(impl_->tls_context->native_handle());
    }
  }
  for (int i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>(cfg, impl_->metrics, i, clock,
                                      seed + static_cast<std::uint64_t>(i) * 0x9e3779b97f4a7c15ULL);
    if (impl_->options.connector) {
      w->connector = impl_->options.connector(w->deadlines, w->pool);
    } else {
      w->connector = std::make_unique<PooledConnector>(w->deadlines, w->pool);
    }
    auto acceptor = listenOn(w->ioc, cfg.bind, port, /*reuse_port=*/true);
    if (!acceptor) {
      impl_->workers.clear();
      return Error{acceptor.error()};
    }
    port = acceptor->local_endpoint().port();  // port 0 binds once; the others share it
    w->listen_port = port;
    w->listen_port_text = std::to_string(port);
    const auto protocol = acceptor->local_endpoint().protocol();
    w->acceptor.emplace(w->ioc, protocol, acceptor->release());  // on the worker's executor
    if (impl_->tls_context) {
      auto tls_acceptor = listenOn(w->ioc, cfg.bind, https_port, /*reuse_port=*/true);
      if (!tls_acceptor) {
        impl_->workers.clear();
        return Error{"HTTPS port: " + tls_acceptor.error()};
      }
      https_port = tls_acceptor->local_endpoint().port();
      w->tls_listen_port_text = std::to_string(https_port);
      w->tls_context = impl_->tls_context.get();
      w->ticket_keys = &impl_->ticket_keys;
      const auto tls_protocol = tls_acceptor->local_endpoint().protocol();
      w->tls_acceptor.emplace(w->ioc, tls_protocol, tls_acceptor->release());
    }
    impl_->workers.push_back(std::move(w));
  }
  impl_->port = port;
  impl_->https_port = https_port;
  for (auto& w : impl_->workers) {
    Worker* wp = w.get();
    drainTick(*wp);
    doAccept<false>(*wp);
    if (wp->tls_acceptor) {
      doAccept<true>(*wp);
    }
    wp->thread = std::thread([wp] {
      // Handlers do not throw (CONVENTIONS.md rule 2); if one does, it is a bug worth a crash.
      wp->ioc.run();
    });
  }
  impl_->checker.start();
  impl_->started = true;
  return port;
}

std::uint16_t Server::port() const { return impl_->port; }
std::uint16_t Server::httpsPort() const { return impl_->https_port; }
tls::SslCtxPtr Server::generatedDefaultContext() const { return impl_->default_tls; }
void Server::rotateTicketKeys() { impl_->ticket_keys.rotate(); }

void Server::publish(std::shared_ptr<const snapshot::Snapshot> snapshot,
                     std::shared_ptr<const tls::SniTable> sni,
                     std::unordered_map<std::string, tls::SslCtxPtr> ca_contexts) {
  // Joined to the runtime state once, on the control thread; the workers only swap pointers.
  runtime::UpstreamContexts upstream{impl_->upstream_unverified, std::move(ca_contexts)};
  std::shared_ptr<const runtime::PublishedConfig> published = impl_->runtime.bind(
      std::move(snapshot), std::move(sni), upstream,
      runtime::steadyNs(
          (impl_->options.clock != nullptr ? *impl_->options.clock : Clock::system()).now()));
  impl_->checker.update(published);
  for (auto& w : impl_->workers) {
    Worker* wp = w.get();
    net::post(wp->ioc, [wp, published] {
      wp->balancer.rebind(wp->published ? wp->published->snapshot.get() : nullptr,
                          *published->snapshot);
      wp->published = published;
      wp->pool.retain(published->pool_ids);
      wp->metrics.snapshot_swaps.inc();
      wp->installed_generation.fetch_add(1, std::memory_order_release);
    });
  }
}

std::uint64_t Server::installedGeneration() const {
  std::uint64_t g = UINT64_MAX;
  for (const auto& w : impl_->workers) {
    g = std::min(g, w->installed_generation.load(std::memory_order_acquire));
  }
  return impl_->workers.empty() ? 0 : g;
}

void Server::drain() {
  for (auto& w : impl_->workers) {
    Worker* wp = w.get();
    net::post(wp->ioc, [wp] {
      wp->draining = true;
      error_code ignored;
      if (wp->acceptor) {
        wp->acceptor->close(ignored);
      }
      if (wp->tls_acceptor) {
        wp->tls_acceptor->close(ignored);
      }
      wp->accept_backoff.cancel();
      // Copy: drain() closes sockets, whose handlers may end connections later.
      const std::vector<ClientConnection*> connections(wp->connections.begin(),
                                                       wp->connections.end());
      for (ClientConnection* c : connections) {
        c->drain();
      }
      wp->pool.clear();
    });
  }
}

bool Server::waitIdle(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (activeConnections() > 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    // Poll: the control thread has nothing else to do while draining.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

void Server::stop() {
  if (impl_->stopped) {
    return;
  }
  impl_->stopped = true;
  impl_->checker.stop();
  for (auto& w : impl_->workers) {
    w->ioc.stop();
  }
  for (auto& w : impl_->workers) {
    if (w->thread.joinable()) {
      w->thread.join();
    }
  }
  for (auto& w : impl_->workers) {
    w->pool.clear();
    w->acceptor.reset();
    w->tls_acceptor.reset();
  }
  impl_->workers.clear();
}

std::size_t Server::activeConnections() const {
  std::size_t n = 0;
  for (const auto& w : impl_->workers) {
    n += w->connection_count.load(std::memory_order_relaxed);
  }
  return n;
}

}  // namespace portico::proxy
