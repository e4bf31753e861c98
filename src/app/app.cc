#include "app/app.h"

#include "common/log.h"
#include "controller/controller.h"
#include "k8s/manifest_source.h"
#include "metrics/registry.h"
#include "proxy/admin_server.h"
#include "proxy/server.h"

#include <signal.h>

#include <atomic>
#include <thread>

namespace portico::app {

namespace {
// Without inotify events, the directory is still read this often, in case an event was lost
// (an overflowed inotify queue, a directory replaced on a network filesystem).
constexpr std::chrono::seconds kManifestResync{10};
}  // namespace

int run(const Flags& flags) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  if (flags.manifests.empty()) {
    log::error("no source: the Kubernetes API source is not available in this build yet; "
               "run with --manifests DIR");
    return 2;
  }

  metrics::Registry registry;
  proxy::AdminServer admin(registry);
  proxy::Server server(flags.proxy, registry);

  k8s::ManifestSource source(flags.manifests, flags.watch_namespace);
  if (auto opened = source.open(); !opened) {
    log::error("cannot read manifests", {{"error", opened.error()}});
    return 2;
  }
  auto http_port = server.start();
  if (!http_port) {
    log::error("cannot start the proxy", {{"error", http_port.error()}});
    return 1;
  }
  auto admin_port = admin.start(flags.proxy.bind, flags.admin_port);
  if (!admin_port) {
    log::error("cannot start the admin listener", {{"error", admin_port.error()}});
    return 1;
  }
  log::info("listening", {{"http", *http_port},
                          {"admin", *admin_port},
                          {"bind", flags.proxy.bind},
                          {"workers", flags.proxy.workers}});

  controller::Controller controller(
      flags.compiler,
      [&server, &admin](std::shared_ptr<const snapshot::Snapshot> snapshot) {
        server.publish(std::move(snapshot));
        admin.setReady(true);
      },
      registry);
  controller.start();

  std::atomic<bool> stopping{false};
  std::thread source_thread([&] {
    source.reload();
    controller.setState(source.state(), source.errors());
    controller.markSynced();
    auto last_read = std::chrono::steady_clock::now();
    while (!stopping.load()) {
      const bool changed = source.waitForChange(std::chrono::milliseconds(1000));
      if (stopping.load()) {
        break;
      }
      if (changed || std::chrono::steady_clock::now() - last_read >= kManifestResync) {
        last_read = std::chrono::steady_clock::now();
        const auto before = source.errors();
        if (source.reload() || source.errors() != before) {
          controller.setState(source.state(), source.errors());
        }
      }
    }
  });

  int sig = 0;
  sigwait(&signals, &sig);
  log::info("signal received: draining", {{"signal", sig},
                                          {"graceMs", flags.shutdown_grace.count()},
                                          {"connections", server.activeConnections()}});
  admin.setDraining(true);
  server.drain();
  const bool drained = server.waitIdle(flags.shutdown_grace);
  if (!drained) {
    log::warn("shutdown grace expired; closing the remaining connections",
              {{"connections", server.activeConnections()}});
  }
  stopping.store(true);
  source.wake();
  source_thread.join();
  controller.stop();
  server.stop();
  admin.stop();
  log::info("stopped");
  return 0;
}

}  // namespace portico::app
