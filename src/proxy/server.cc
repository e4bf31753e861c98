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

namespace {
// The workers' counters, summed at scrape time: one family per row.
struct WorkerCounterFamily {
  const char* name;
  const char* help;
  metrics::LocalCounter WorkerStats::*member;
};
constexpr WorkerCounterFamily kWorkerCounters[] = {
    {"portico_connections_accepted_total", "Client connections accepted.",
     &WorkerStats::connections_accepted},
    {"portico_accept_errors_total", "Failed accepts (EMFILE and others); the listener backs off.",
     &WorkerStats::accept_errors},
    {"portico_upstream_connect_errors_total", "Upstream connection attempts that failed.",
     &WorkerStats::upstream_connect_errors},
    {"portico_upstream_retries_total",
     "Requests sent again to another endpoint after a safe failure.",
     &WorkerStats::upstream_retries},
    {"portico_upstream_connection_reuses_total",
     "Requests sent on a pooled keep-alive upstream connection.", &WorkerStats::upstream_reuses},
    {"portico_upstream_truncated_responses_total",
     "Responses cut short because the upstream failed mid-body.", &WorkerStats::upstream_truncated},
    {"portico_client_aborts_total", "Requests the client abandoned before their response ended.",
     &WorkerStats::client_aborts},
    {"portico_rejected_requests_total", "Requests refused as malformed, ambiguous or over a limit.",
     &WorkerStats::rejected_requests},
    {"portico_snapshot_swaps_total", "Snapshots installed, counted once per worker.",
     &WorkerStats::snapshot_swaps},
    {"portico_tls_handshakes_total", "TLS handshakes completed.", &WorkerStats::tls_handshakes},
    {"portico_tls_resumed_handshakes_total",
     "TLS handshakes completed that resumed a session (a ticket).", &WorkerStats::tls_resumed},
    {"portico_upstream_tls_handshakes_total", "TLS handshakes with backends completed.",
     &WorkerStats::upstream_tls_handshakes},
    {"portico_upstream_tls_handshake_errors_total",
     "TLS handshakes with backends that failed (verification, protocol, server name).",
     &WorkerStats::upstream_tls_errors},
    {"portico_upstream_ejections_total",
     "Endpoints ejected by passive health checks (consecutive 5xx or connect failures).",
     &WorkerStats::upstream_ejections},
    {"portico_access_log_dropped_lines_total",
     "Access log lines dropped because the writer was behind (the worker never waits).",
     &WorkerStats::access_log_dropped},
};
}  // namespace

void ProxyMetrics::attach(const std::vector<std::unique_ptr<Worker>>& workers) {
  detach();
  for (const auto& w : workers) {
    workers_.push_back(w.get());
  }
  collector_ = registry_.addCollector([this](metrics::Exposition& out) { collect(out); });
}

void ProxyMetrics::detach() {
  if (collector_ != 0) {
    registry_.removeCollector(collector_);
    collector_ = 0;
  }
  workers_.clear();
}

void ProxyMetrics::collect(metrics::Exposition& out) const {
  const auto sum = [this](auto member) {
    std::uint64_t n = 0;
    for (const Worker* w : workers_) {
      n += (w->stats.*member).value();
    }
    return n;
  };
  for (const auto& f : kWorkerCounters) {
    out.family(f.name, f.help, metrics::Type::kCounter);
    out.sample("", sum(f.member));
  }
  const auto byReason = [&](const char* name, const char* help, auto member, const auto& reasons) {
    out.family(name, help, metrics::Type::kCounter);
    for (std::size_t i = 0; i < reasons.size(); ++i) {
      std::uint64_t n = 0;
      for (const Worker* w : workers_) {
        n += (w->stats.*member)[i].value();
      }
      out.sample(std::string("reason=\"") + reasons[i] + "\"", n);
    }
  };
  byReason("portico_tls_handshake_errors_total", "TLS handshakes that failed, by reason.",
           &WorkerStats::tls_handshake_errors, WorkerStats::kTlsHandshakeErrorReasons);
  byReason("portico_upstream_errors_total",
           "Requests that failed because of their upstream, by reason.",
           &WorkerStats::upstream_errors, WorkerStats::kUpstreamErrorReasons);
  // Connections by state; "active" is all of them, as nginx's stub_status counts.
  std::int64_t reading = 0;
  std::int64_t writing = 0;
  std::int64_t idle = 0;
  for (const Worker* w : workers_) {
    reading += w->stats.connections_reading.value();
    writing += w->stats.connections_writing.value();
    idle += w->stats.connections_idle.value();
  }
  out.family("portico_connections", "Open client connections, by state.", metrics::Type::kGauge);
  out.sample("state=\"active\"", reading + writing + idle);
  out.sample("state=\"idle\"", idle);
  out.sample("state=\"reading\"", reading);
  out.sample("state=\"writing\"", writing);
  out.family("portico_upstream_idle_connections",
             "Upstream keep-alive connections pooled, waiting for a request.",
             metrics::Type::kGauge);
  std::int64_t pooled = 0;
  for (const Worker* w : workers_) {
    pooled += static_cast<std::int64_t>(w->pool_idle.load(std::memory_order_relaxed));
  }
  out.sample("", pooled);
  // By worker: how evenly SO_REUSEPORT spreads the load.
  out.family("portico_worker_connections_accepted_total", "Client connections accepted, by worker.",
             metrics::Type::kCounter);
  for (const Worker* w : workers_) {
    out.sample("worker=\"" + std::to_string(w->index) + "\"",
               w->stats.connections_accepted.value());
  }
  out.family("portico_worker_requests_total", "Requests answered, by worker.",
             metrics::Type::kCounter);
  for (const Worker* w : workers_) {
    out.sample("worker=\"" + std::to_string(w->index) + "\"", w->stats.requests.value());
  }
}

void Worker::countRequest(metrics::RequestStats* route, const metrics::RequestSample& sample,
                          const AccessRecord* record) {
  stats.requests.inc();
  if (route == nullptr) {
    route = unmatched_stats;
  }
  if (route != nullptr) {
    route->record(static_cast<std::size_t>(index), sample);
  }
  if (access_log == nullptr || record == nullptr) {
    return;
  }
  AccessLogRing& ring = access_log->ring(static_cast<std::size_t>(index));
  if (!ring.push(formatAccessLine(access_log_format, *record, ring.scratch))) {
    stats.access_log_dropped.inc();
    access_log->poke();
    return;
  }
  if (ring.pastHalf()) {
    access_log->poke();
  }
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

Worker::Worker(const ProxyConfig& cfg, int idx, const Clock& clk, std::uint64_t seed)
    : config(cfg),
      clock(clk),
      index(idx),
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
    w.stats.accept_errors.inc();
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
  w.stats.connections_accepted.inc();
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
  // Per-route request series (null when request_metrics is off) and the access log's writer
  // (null when off): before the workers, which point into them.
  std::unique_ptr<metrics::RequestStatsTable> request_stats;
  std::unique_ptr<AccessLogWriter> access_log;
  std::shared_ptr<const metrics::RouteStatsIndex> route_stats;  // of the last publish
  std::shared_ptr<const snapshot::Snapshot> route_stats_of;     // ... and its snapshot
  std::vector<std::unique_ptr<Worker>> workers;  // after the contexts: destroyed first
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
    w.pool_idle.store(w.pool.idleCount(), std::memory_order_relaxed);
    drainTick(w);
  });
}
}  // namespace

namespace {
// "namespace/name:port..." (a target group's id) to its Service's name.
std::string_view serviceOf(std::string_view id) {
  const std::size_t slash = id.find('/');
  std::string_view rest = slash == std::string_view::npos ? id : id.substr(slash + 1);
  return rest.substr(0, rest.find(':'));
}

// The request series of every route of `s` (RouteStatsIndex): one lookup per route and target
// group in the table, at publish, so a request finds its series by two subtractions. A host
// whose routes carry the same labels as in `prev` (the last index, of `prev_of`) takes its slots
// from there: after one Ingress changed, the other 9,999 hosts cost a comparison each, not five
// label strings built, escaped and hashed per route.
std::shared_ptr<const metrics::RouteStatsIndex> indexRouteStats(
    metrics::RequestStatsTable& table, const snapshot::Snapshot& s,
    const metrics::RouteStatsIndex* prev, const snapshot::Snapshot* prev_of) {
  auto index = std::make_shared<metrics::RouteStatsIndex>();
  const auto& groups = s.targetGroups();
  std::size_t slots = s.anyHost().routes.size() + 1;
  for (const auto& vh : s.hosts()) {
    slots += vh.routes.size() + 1;
  }
  index->host_offsets.reserve(s.hosts().size() + 1);
  index->slots.reserve(slots);
  if (prev_of == nullptr || prev == nullptr ||
      prev->host_offsets.size() != prev_of->hosts().size() + 1) {
    prev = nullptr;
  }
  // The same "namespace/service" (the labels a target group gives), whatever the port.
  const auto sameGroup = [&](std::uint32_t a, std::uint32_t b) {
    const auto& old_groups = prev_of->targetGroups();
    if (a == snapshot::kNoTargetGroup || b == snapshot::kNoTargetGroup) {
      return a == b;
    }
    if (a >= groups.size() || b >= old_groups.size()) {
      return false;
    }
    const std::string_view x = groups[a].id;
    const std::string_view y = old_groups[b].id;
    return x.substr(0, x.find(':')) == y.substr(0, y.find(':'));
  };
  // The labels of every slot of `vh` are those of `old`'s (same host, same routes in the same
  // order with the same Ingress, path and services, the same default backend's).
  const auto sameLabels = [&](const snapshot::VirtualHost& vh, const snapshot::VirtualHost& old) {
    if (vh.host != old.host || vh.routes.size() != old.routes.size() ||
        !sameGroup(vh.default_target_group, old.default_target_group)) {
      return false;
    }
    for (std::size_t i = 0; i < vh.routes.size(); ++i) {
      const snapshot::Route& a = vh.routes[i];
      const snapshot::Route& b = old.routes[i];
      if (a.ingress != b.ingress || a.path != b.path) {
        return false;
      }
      const auto* fa = std::get_if<snapshot::Forward>(&a.action);
      const auto* fb = std::get_if<snapshot::Forward>(&b.action);
      const std::size_t na = fa != nullptr ? fa->targets.size() : 0;
      const std::size_t nb = fb != nullptr ? fb->targets.size() : 0;
      if (na != nb) {
        return false;
      }
      for (std::size_t t = 0; t < na; ++t) {
        if (!sameGroup(fa->targets[t].target_group, fb->targets[t].target_group)) {
          return false;
        }
      }
    }
    return true;
  };
  const auto addHost = [&](const snapshot::VirtualHost& vh, const snapshot::VirtualHost* old,
                           std::size_t old_index) {
    index->host_offsets.push_back(static_cast<std::uint32_t>(index->slots.size()));
    if (old != nullptr && sameLabels(vh, *old)) {
      // by_group pairs carry target group indexes of this snapshot: remapped below.
      const std::size_t from = prev->host_offsets[old_index];
      for (std::size_t i = 0; i <= vh.routes.size(); ++i) {
        metrics::RouteStatsIndex::Slot slot = prev->slots[from + i];
        if (!slot.by_group.empty()) {
          const auto& f = std::get<snapshot::Forward>(vh.routes[i].action);
          for (std::size_t t = 0; t < slot.by_group.size(); ++t) {
            slot.by_group[t].first = f.targets[t].target_group;
          }
        }
        index->slots.push_back(std::move(slot));
      }
      return;
    }
    const std::string_view host = vh.host.empty() ? std::string_view("_") : vh.host;
    for (const snapshot::Route& r : vh.routes) {
      const std::size_t slash = r.ingress.find('/');
      const std::string_view ns = std::string_view(r.ingress).substr(0, slash);
      const std::string_view name = slash == std::string::npos
                                        ? std::string_view()
                                        : std::string_view(r.ingress).substr(slash + 1);
      const std::string_view path = r.path.empty() ? std::string_view("/") : r.path;
      metrics::RouteStatsIndex::Slot slot;
      const auto* forward = std::get_if<snapshot::Forward>(&r.action);
      if (forward != nullptr && forward->targets.size() > 1) {
        for (const auto& t : forward->targets) {
          slot.by_group.emplace_back(
              t.target_group,
              table.get(ns, name, serviceOf(groups[t.target_group].id), host, path));
        }
      } else if (forward != nullptr && forward->targets.size() == 1) {
        slot.only =
            table.get(ns, name, serviceOf(groups[forward->targets[0].target_group].id), host, path);
      } else {
        slot.only = table.get(ns, name, "", host, path);
      }
      index->slots.push_back(std::move(slot));
    }
    metrics::RouteStatsIndex::Slot fallback;
    if (vh.default_target_group != snapshot::kNoTargetGroup) {
      const std::string_view id = groups[vh.default_target_group].id;
      fallback.only = table.get(id.substr(0, id.find('/')), "", serviceOf(id), host, "");
    }
    index->slots.push_back(std::move(fallback));
  };
  // Both host lists are sorted by name (the compiler's order): one walk pairs them.
  std::size_t o = 0;
  for (const auto& vh : s.hosts()) {
    const snapshot::VirtualHost* old = nullptr;
    if (prev != nullptr) {
      const auto& old_hosts = prev_of->hosts();
      while (o < old_hosts.size() && old_hosts[o].host < vh.host) {
        ++o;
      }
      if (o < old_hosts.size() && old_hosts[o].host == vh.host) {
        old = &old_hosts[o];
      }
    }
    addHost(vh, old, o);
  }
  addHost(s.anyHost(), prev != nullptr ? &prev_of->anyHost() : nullptr,
          prev != nullptr ? prev_of->hosts().size() : 0);
  table.retain(*index);
  return index;
}
}  // namespace

metrics::RequestStats* routeStatsFor(const runtime::PublishedConfig& config,
                                     const snapshot::RouteMatch& match,
                                     std::uint32_t target_group) {
  const metrics::RouteStatsIndex* index = config.request_stats.get();
  if (index == nullptr || match.vhost == nullptr) {
    return nullptr;
  }
  const auto& hosts = config.snapshot->hosts();
  const std::size_t h = match.vhost == &config.snapshot->anyHost()
                            ? hosts.size()
                            : static_cast<std::size_t>(match.vhost - hosts.data());
  if (h >= index->host_offsets.size()) {
    return nullptr;
  }
  const std::size_t r = match.route != nullptr
                            ? static_cast<std::size_t>(match.route - match.vhost->routes.data())
                            : match.vhost->routes.size();
  const std::size_t slot = index->host_offsets[h] + r;
  return slot < index->slots.size() ? index->slots[slot].find(target_group) : nullptr;
}

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
  if (cfg.request_metrics) {
    impl_->request_stats =
        std::make_unique<metrics::RequestStatsTable>(impl_->metrics.registry(), n);
  }
  if (cfg.access_log != AccessLogFormat::kOff) {
    impl_->access_log = std::make_unique<AccessLogWriter>(static_cast<std::size_t>(n),
                                                          cfg.access_log_buffer, cfg.access_log_fd);
  }
  for (int i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>(cfg, i, clock,
                                      seed + static_cast<std::uint64_t>(i) * 0x9e3779b97f4a7c15ULL);
    if (impl_->request_stats) {
      w->unmatched_stats = &impl_->request_stats->unmatched();
    }
    w->access_log = impl_->access_log.get();
    w->access_log_format = cfg.access_log;
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
  impl_->metrics.attach(impl_->workers);
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
  // The request series: kept when only endpoints changed (the same routes), else re-indexed.
  if (impl_->request_stats) {
    if (impl_->route_stats == nullptr || impl_->route_stats_of == nullptr ||
        !snapshot->sharesRoutesWith(*impl_->route_stats_of)) {
      impl_->route_stats = indexRouteStats(*impl_->request_stats, *snapshot,
                                           impl_->route_stats.get(), impl_->route_stats_of.get());
    }
    impl_->route_stats_of = snapshot;
  }
  std::shared_ptr<const runtime::PublishedConfig> published = impl_->runtime.bind(
      std::move(snapshot), std::move(sni), impl_->route_stats, upstream,
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
      wp->stats.snapshot_swaps.inc();
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
  impl_->metrics.detach();
  impl_->workers.clear();
  impl_->access_log.reset();  // writes what the workers logged
}

std::size_t Server::activeConnections() const {
  std::size_t n = 0;
  for (const auto& w : impl_->workers) {
    n += w->connection_count.load(std::memory_order_relaxed);
  }
  return n;
}

}  // namespace portico::proxy
