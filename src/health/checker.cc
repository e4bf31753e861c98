#include "health/checker.h"

#include "common/log.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <openssl/ssl.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

namespace portico::health {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
using runtime::EndpointState;

namespace {

constexpr std::size_t kMaxResponseBytes = 8 * 1024;

// One endpoint's checks: its settings, counts and the probe in flight.
struct Target {
  std::shared_ptr<EndpointState> endpoint;
  snapshot::HealthCheck check;
  std::shared_ptr<const runtime::UpstreamTls> tls;  // the group's (HTTPS checks reuse its context)
  std::unique_ptr<net::steady_timer> timer;
  std::uint32_t successes = 0;
  std::uint32_t failures = 0;
  std::uint64_t seen = 0;      // the update that last named it
  std::uint64_t schedule = 0;  // bumped to orphan the pending timer's handler
};

// One probe: a connection, an optional TLS layer over it, a deadline.
struct Probe : std::enable_shared_from_this<Probe> {
  Probe(net::io_context& ioc, std::function<void(bool, std::string)> done)
      : socket(ioc), deadline(ioc), done(std::move(done)) {}
  tcp::socket socket;
  std::optional<net::ssl::stream<tcp::socket&>> ssl;
  net::steady_timer deadline;
  std::function<void(bool, std::string)> done;
  std::string request;
  std::string response;
  std::array<char, 2048> buf{};
  bool finished = false;

  void finish(bool ok, std::string why) {
    if (finished) {
      return;
    }
    finished = true;
    deadline.cancel();
    error_code ignored;
    socket.close(ignored);
    done(ok, std::move(why));
  }
};

}  // namespace

// Handlers hold a plain pointer to it: none runs after stop() joined the thread, and the ones
// never run die with the io_context, inside the Impl (shared pointers in them would keep the
// Impl alive forever).
struct Checker::Impl {
  Impl(metrics::Registry& r, std::uint64_t seed)
      : registry(r),
        rng(seed),
        successes(r.counter("portico_health_checks_total", "Active health check probes, by result.",
                            {{"result", "success"}})),
        failures(r.counter("portico_health_checks_total", "Active health check probes, by result.",
                           {{"result", "failure"}})) {}

  metrics::Registry& registry;
  net::io_context ioc;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::thread thread;
  Random rng;
  std::unordered_map<const EndpointState*, Target> targets;
  std::shared_ptr<const runtime::PublishedConfig> config;  // the last update's
  std::uint64_t generation = 0;
  std::shared_ptr<net::ssl::context> verify_none;  // HTTPS checks of plain-HTTP groups
  metrics::Counter& successes;
  metrics::Counter& failures;
  std::atomic<std::uint64_t> probes{0};

  void apply(std::shared_ptr<const runtime::PublishedConfig> next) {
    const std::uint64_t gen = ++generation;
    const auto& tgs = next->snapshot->targetGroups();
    for (std::size_t i = 0; i < tgs.size() && i < next->target_groups.size(); ++i) {
      const snapshot::HealthCheck& check = tgs[i].settings.health;
      const runtime::TargetGroupState& state = next->target_groups[i];
      for (const auto& ep : state.endpoints) {
        if (!check.enabled) {
          // Checks turned off (or never on): the endpoint's readiness alone decides.
          ep->health.fetch_and(static_cast<std::uint8_t>(~runtime::kFailedActiveCheck));
          continue;
        }
        auto [it, inserted] = targets.try_emplace(ep.get());
        Target& t = it->second;
        t.seen = gen;
        t.tls = state.tls;
        if (inserted) {
          t.endpoint = ep;
          t.timer = std::make_unique<net::steady_timer>(ioc);
          t.check = check;
          // The first probe soon (within a second, spread), so a dead endpoint leaves early.
          schedule(t, std::chrono::milliseconds(rng.below(1000)));
        } else if (t.check != check) {
          t.check = check;
          schedule(t, std::chrono::milliseconds(rng.below(1000)));
        }
      }
    }
    for (auto it = targets.begin(); it != targets.end();) {
      if (it->second.seen != gen) {
        it->second.timer->cancel();
        it = targets.erase(it);
      } else {
        ++it;
      }
    }
    config = std::move(next);
  }

  void schedule(Target& t, std::chrono::milliseconds delay) {
    const std::uint64_t id = ++t.schedule;
    const EndpointState* key = t.endpoint.get();
    t.timer->expires_after(delay);
    t.timer->async_wait([self = this, key, id](error_code ec) {
      if (ec) {
        return;
      }
      auto it = self->targets.find(key);
      if (it == self->targets.end() || it->second.schedule != id) {
        return;
      }
      self->probe(it->second, id);
    });
  }

  // The interval with +-10 % jitter, so checks of many endpoints do not fall in step.
  std::chrono::milliseconds jittered(std::uint32_t seconds) {
    const std::int64_t ms = static_cast<std::int64_t>(seconds) * 1000;
    const std::int64_t spread = std::max<std::int64_t>(ms / 10, 1);
    return std::chrono::milliseconds(ms - spread +
                                     static_cast<std::int64_t>(rng.below(2 * spread + 1)));
  }

  void probe(Target& t, std::uint64_t id) {
    const EndpointState* key = t.endpoint.get();
    const snapshot::HealthCheck check = t.check;
    auto p = std::make_shared<Probe>(
        ioc, [self = this, key, id](bool ok, std::string why) { self->verdict(key, id, ok, why); });
    error_code ec;
    const auto address = net::ip::make_address(t.endpoint->endpoint.address, ec);
    if (ec) {
      p->finish(false, "bad address");
      return;
    }
    const std::uint16_t port = check.port != 0 ? check.port : t.endpoint->endpoint.port;
    p->deadline.expires_after(std::chrono::seconds(check.timeout_seconds));
    p->deadline.async_wait([weak = std::weak_ptr<Probe>(p)](error_code wec) {
      if (!wec) {
        if (auto probe = weak.lock()) {
          probe->finish(false, "timeout");
        }
      }
    });
    std::string host = t.endpoint->endpoint.address;
    if (host.find(':') != std::string::npos) {
      host = "[" + host + "]";
    }
    p->request = "GET " + check.path + " HTTP/1.1\r\nHost: " + host + ":" + std::to_string(port) +
                 "\r\nUser-Agent: portico-health-check\r\nConnection: close\r\n\r\n";
    std::shared_ptr<ssl_ctx_st> ctx;
    std::string server_name;
    if (check.protocol == snapshot::HealthCheck::Protocol::kHttps) {
      if (t.tls != nullptr && t.tls->ctx != nullptr) {
        ctx = t.tls->ctx;
        server_name = t.tls->server_name;
      }
    }
    p->socket.async_connect(tcp::endpoint(address, port),
                            [this, p, check, ctx, server_name](error_code cec) {
                              if (p->finished) {
                                return;
                              }
                              if (cec) {
                                p->finish(false, "connect: " + cec.message());
                                return;
                              }
                              if (check.protocol == snapshot::HealthCheck::Protocol::kTcp) {
                                p->finish(true, "");
                                return;
                              }
                              if (check.protocol == snapshot::HealthCheck::Protocol::kHttps) {
                                handshake(p, ctx, server_name, check);
                                return;
                              }
                              exchange(p, p->socket, check);
                            });
  }

  void handshake(const std::shared_ptr<Probe>& p, std::shared_ptr<ssl_ctx_st> ctx,
                 const std::string& server_name, const snapshot::HealthCheck& check) {
    if (verify_none == nullptr) {
      verify_none = std::make_shared<net::ssl::context>(net::ssl::context::tls_client);
      verify_none->set_verify_mode(net::ssl::verify_none);
    }
    // The group's own client context when it has one (its CA verifies); else no verification,
    // as the ALB's HTTPS health checks do not verify either.
    net::ssl::context* use = verify_none.get();
    std::optional<net::ssl::context> wrapped;
    if (ctx != nullptr) {
      SSL_CTX_up_ref(ctx.get());
      wrapped.emplace(ctx.get());
      use = &*wrapped;
    }
    p->ssl.emplace(p->socket, *use);
    if (!server_name.empty()) {
      SSL_set_tlsext_host_name(p->ssl->native_handle(), server_name.c_str());
    }
    p->ssl->async_handshake(net::ssl::stream_base::client, [this, p, check](error_code hec) {
      if (p->finished) {
        return;
      }
      if (hec) {
        p->finish(false, "tls: " + hec.message());
        return;
      }
      exchange(p, *p->ssl, check);
    });
  }

  template <class Stream>
  void exchange(const std::shared_ptr<Probe>& p, Stream& stream,
                const snapshot::HealthCheck& check) {
    net::async_write(stream, net::buffer(p->request),
                     [this, p, &stream, check](error_code wec, std::size_t) {
                       if (p->finished) {
                         return;
                       }
                       if (wec) {
                         p->finish(false, "write: " + wec.message());
                         return;
                       }
                       readStatus(p, stream, check);
                     });
  }

  // Reads until the status line is whole, then judges it by the success codes.
  template <class Stream>
  void readStatus(const std::shared_ptr<Probe>& p, Stream& stream,
                  const snapshot::HealthCheck& check) {
    stream.async_read_some(
        net::buffer(p->buf), [this, p, &stream, check](error_code rec, std::size_t n) {
          if (p->finished) {
            return;
          }
          p->response.append(p->buf.data(), n);
          const std::size_t eol = p->response.find("\r\n");
          if (eol == std::string::npos) {
            if (rec || p->response.size() > kMaxResponseBytes) {
              p->finish(false, rec ? "read: " + rec.message() : "no status line");
              return;
            }
            readStatus(p, stream, check);
            return;
          }
          // "HTTP/1.1 200 OK"
          const std::string line = p->response.substr(0, eol);
          unsigned status = 0;
          if (line.size() >= 12 && line.compare(0, 5, "HTTP/") == 0 && line[8] == ' ') {
            for (std::size_t i = 9; i < 12 && line[i] >= '0' && line[i] <= '9'; ++i) {
              status = status * 10 + static_cast<unsigned>(line[i] - '0');
            }
          }
          if (status < 100 || status > 999) {
            p->finish(false, "not an HTTP response");
          } else if (!check.success(status)) {
            p->finish(false, "status " + std::to_string(status));
          } else {
            p->finish(true, "");
          }
        });
  }

  void verdict(const EndpointState* key, std::uint64_t id, bool ok, const std::string& why) {
    probes.fetch_add(1, std::memory_order_relaxed);
    (ok ? successes : failures).inc();
    auto it = targets.find(key);
    if (it == targets.end() || it->second.schedule != id) {
      return;  // the endpoint left, or its settings changed while the probe ran
    }
    Target& t = it->second;
    EndpointState& e = *t.endpoint;
    const bool down = (e.health.load() & runtime::kFailedActiveCheck) != 0;
    if (ok) {
      t.failures = 0;
      ++t.successes;
      if (down && t.successes >= t.check.healthy_threshold) {
        e.health.fetch_and(static_cast<std::uint8_t>(~runtime::kFailedActiveCheck));
        log::info("endpoint healthy",
                  {{"target_group", e.target_group},
                   {"endpoint", e.endpoint.address + ":" + std::to_string(e.endpoint.port)}});
      }
    } else {
      t.successes = 0;
      ++t.failures;
      if (!down && t.failures >= t.check.unhealthy_threshold) {
        e.health.fetch_or(runtime::kFailedActiveCheck);
        log::warn("endpoint unhealthy",
                  {{"target_group", e.target_group},
                   {"endpoint", e.endpoint.address + ":" + std::to_string(e.endpoint.port)},
                   {"reason", why}});
      }
    }
    schedule(t, jittered(t.check.interval_seconds));
  }

  // portico_target_group_endpoints{namespace,service,port,target_group,state} and
  // portico_target_group_fail_open, counted at each scrape (the scraping thread) from the
  // config last given to update(): the states are atomics in the EndpointStates, and nothing
  // is kept between scrapes (at 10,000 target groups, 40,000 series held as strings cost
  // megabytes and a rebuild on every change).
  std::mutex shown_mutex;
  std::shared_ptr<const runtime::PublishedConfig> shown;
  std::uint64_t collector = 0;

  void collect(metrics::Exposition& out) {
    std::shared_ptr<const runtime::PublishedConfig> c;
    {
      const std::lock_guard<std::mutex> lock(shown_mutex);
      c = shown;
    }
    struct Row {
      std::size_t group;
      std::int64_t healthy = 0, unhealthy = 0, draining = 0;
      bool open = false;
    };
    std::vector<Row> rows;
    if (c != nullptr) {
      const auto& tgs = c->snapshot->targetGroups();
      rows.reserve(c->target_groups.size());
      for (std::size_t i = 0; i < c->target_groups.size() && i < tgs.size(); ++i) {
        const runtime::TargetGroupState& group = c->target_groups[i];
        Row r{i};
        for (const auto& e : group.endpoints) {
          if (e->draining.load()) {
            ++r.draining;
          } else if (e->healthy()) {
            ++r.healthy;
          } else {
            ++r.unhealthy;
          }
        }
        r.open = group.runtime != nullptr && group.runtime->fail_open.load() && r.healthy == 0;
        rows.push_back(r);
      }
    }
    // "namespace/service:port[/https...]": the Service port, and the whole id (the same port
    // spoken to over TLS is a target group of its own).
    std::string labels;
    const auto render = [&](std::size_t group) {
      const std::string_view id = c->snapshot->targetGroups()[group].id;
      const std::size_t slash = id.find('/');
      const std::size_t colon = id.find(':', slash == std::string_view::npos ? 0 : slash);
      const std::string_view ns = id.substr(0, slash);
      const std::string_view service = slash == std::string_view::npos
                                           ? std::string_view()
                                           : id.substr(slash + 1, colon - slash - 1);
      const std::string_view port = colon == std::string_view::npos
                                        ? std::string_view()
                                        : id.substr(colon + 1, id.find('/', colon) - colon - 1);
      labels.clear();
      const std::pair<const char*, std::string_view> pairs[] = {
          {"namespace", ns}, {"service", service}, {"port", port}, {"target_group", id}};
      for (const auto& [name, value] : pairs) {
        labels += labels.empty() ? "" : ",";
        labels += name;
        labels += "=\"";
        metrics::appendEscaped(labels, value);
        labels += '"';
      }
    };
    out.family("portico_target_group_endpoints", "Endpoints of each target group, by state.",
               metrics::Type::kGauge);
    for (const Row& r : rows) {
      render(r.group);
      const std::size_t base = labels.size();
      const std::pair<const char*, std::int64_t> states[] = {
          {"healthy", r.healthy}, {"unhealthy", r.unhealthy}, {"draining", r.draining}};
      for (const auto& [state, n] : states) {
        labels.resize(base);
        labels += ",state=\"";
        labels += state;
        labels += '"';
        out.sample(labels, n);
      }
    }
    out.family("portico_target_group_fail_open",
               "1 while every endpoint of the target group is unhealthy and traffic spreads over "
               "all of them (fail open).",
               metrics::Type::kGauge);
    for (const Row& r : rows) {
      render(r.group);
      out.sample(labels, static_cast<std::int64_t>(r.open ? 1 : 0));
    }
  }
};

Checker::Checker(metrics::Registry& registry, std::uint64_t seed)
    : impl_(std::make_shared<Impl>(registry, seed)) {
  impl_->collector =
      registry.addCollector([impl = impl_.get()](metrics::Exposition& out) { impl->collect(out); });
}

Checker::~Checker() {
  stop();
  impl_->registry.removeCollector(impl_->collector);
}

void Checker::start() {
  if (impl_->thread.joinable()) {
    return;
  }
  impl_->work.emplace(impl_->ioc.get_executor());
  impl_->thread = std::thread([impl = impl_.get()] { impl->ioc.run(); });
}

void Checker::update(std::shared_ptr<const runtime::PublishedConfig> config) {
  {
    const std::lock_guard<std::mutex> lock(impl_->shown_mutex);
    impl_->shown = config;
  }
  net::post(impl_->ioc, [impl = impl_.get(), config = std::move(config)]() mutable {
    impl->apply(std::move(config));
  });
}

void Checker::stop() {
  if (!impl_->thread.joinable()) {
    return;
  }
  impl_->work.reset();
  impl_->ioc.stop();
  impl_->thread.join();
  impl_->targets.clear();
  impl_->config.reset();
  const std::lock_guard<std::mutex> lock(impl_->shown_mutex);
  impl_->shown.reset();
}

std::uint64_t Checker::probes() const { return impl_->probes.load(); }

}  // namespace portico::health
