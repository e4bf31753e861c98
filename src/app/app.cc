#include "app/app.h"

#include "common/log.h"
#include "controller/controller.h"
#include "k8s/kube_source.h"
#include "k8s/kubeconfig.h"
#include "k8s/leader_election.h"
#include "k8s/manifest_source.h"
#include "k8s/status_writer.h"
#include "metrics/process.h"
#include "metrics/registry.h"
#include "proxy/admin_server.h"
#include "proxy/server.h"
#include "tls/store.h"

#include "common/strings.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <optional>
#include <random>
#include <thread>

namespace portico::app {

namespace {
// Without inotify events, the directory is still read this often, in case an event was lost
// (an overflowed inotify queue, a directory replaced on a network filesystem).
constexpr std::chrono::seconds kManifestResync{10};

// Without a manifest directory: --kubeconfig, else $KUBECONFIG (its first file), else the
// in-cluster service account.
Result<k8s::ApiConfig> resolveApiConfig(const Flags& flags) {
  std::string path = flags.kubeconfig;
  if (path.empty()) {
    if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
      path = std::string(env).substr(0, std::string(env).find(':'));
    }
  }
  if (!path.empty()) {
    return k8s::loadKubeconfig(path, flags.context);
  }
  if (auto in_cluster = k8s::inClusterConfig([](const char* k) { return std::getenv(k); },
                                             k8s::kServiceAccountDir)) {
    return std::move(*in_cluster);
  }
  return Error{"no --manifests, no --kubeconfig, no $KUBECONFIG, and not running in a pod"};
}

// This replica's name in the Lease and in Events: the pod's name, else the host's, plus a
// random suffix so that two processes on one host never share it.
std::string identity() {
  std::string base;
  if (const char* pod = std::getenv("POD_NAME"); pod != nullptr && *pod != '\0') {
    base = pod;
  } else {
    char host[256] = {};
    ::gethostname(host, sizeof(host) - 1);
    base = host;
  }
  std::random_device rd;
  char suffix[16];
  std::snprintf(suffix, sizeof(suffix), "_%08x", rd());
  return base + suffix;
}

std::vector<std::string> splitAddresses(const std::string& list) {
  std::vector<std::string> out;
  for (auto part : split(list, ',')) {
    part = trim(part);
    if (!part.empty()) {
      out.emplace_back(part);
    }
  }
  return out;
}

void watchManifests(k8s::ManifestSource& source, controller::Controller& controller,
                    const std::atomic<bool>& stopping) {
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
}

}  // namespace

int run(const Flags& flags) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  // Where objects come from: a manifest directory, else the Kubernetes API.
  std::optional<k8s::ApiConfig> api;
  if (flags.manifests.empty()) {
    auto config = resolveApiConfig(flags);
    if (!config) {
      log::error("cannot reach the Kubernetes API", {{"error", config.error()}});
      return 2;
    }
    api = std::move(*config);
  }

  metrics::Registry registry;
  metrics::registerProcessMetrics(registry, PORTICO_VERSION, PORTICO_REVISION);
  metrics::Gauge& leader = registry.gauge(
      "portico_leader", "1 while this replica holds the leader Lease (writes Ingress status).");
  proxy::AdminServer admin(registry);
  proxy::Server server(flags.proxy, registry);
  // TLS Secrets, parsed once per version; the compiler gets their checks, the HTTPS listener
  // their contexts (control thread only: both run where compiles run).
  tls::CertificateStore certificates(flags.proxy.tls);

  std::optional<k8s::ManifestSource> manifests;
  if (!api) {
    manifests.emplace(flags.manifests, flags.watch_namespace);
    if (auto opened = manifests->open(); !opened) {
      log::error("cannot read manifests", {{"error", opened.error()}});
      return 2;
    }
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
                          {"https", server.httpsPort()},
                          {"admin", *admin_port},
                          {"bind", flags.proxy.bind},
                          {"workers", flags.proxy.workers}});

  controller::Controller controller(
      flags.compiler,
      [&server, &admin, &certificates, &flags,
       &registry](std::shared_ptr<const snapshot::Snapshot> snapshot) {
        std::shared_ptr<const tls::SniTable> sni;
        if (server.httpsPort() != 0) {
          tls::SslCtxPtr fallback;
          if (!flags.default_ssl_certificate.empty()) {
            fallback = certificates.context(flags.default_ssl_certificate);
            if (!fallback) {
              log::warn("the default certificate cannot be served; a self-signed one is",
                        {{"secret", flags.default_ssl_certificate},
                         {"why", "not found, not kubernetes.io/tls, or its check failed"}});
            }
          }
          sni = certificates.sniTable(*snapshot,
                                      fallback ? fallback : server.generatedDefaultContext());
        }
        registry.replaceGauges("portico_ssl_certificate_expiry_timestamp_seconds",
                               "When the certificate of a TLS host's Secret expires (notAfter, "
                               "unix seconds); expired ones stay listed until replaced.",
                               certificates.expiryRows(*snapshot));
        auto ca_contexts = certificates.caContexts(*snapshot);
        server.publish(std::move(snapshot), std::move(sni), std::move(ca_contexts));
        admin.setReady(true);
      },
      registry);
  controller.setSecretChecker([&certificates](const model::ClusterState& state) {
    return certificates.check(state.secrets, config::caSecretsNamed(state));
  });

  std::atomic<bool> stopping{false};
  std::thread source_thread;
  std::thread election_thread;
  std::optional<k8s::KubeSource> kube;
  std::optional<k8s::StatusWriter> status;
  std::optional<k8s::ApiClient> election_client;
  std::optional<k8s::LeaderElector> elector;
  const std::string me = api ? identity() : std::string();
  if (api) {
    status.emplace(
        *api,
        k8s::StatusOptions{flags.publish_service, splitAddresses(flags.publish_status_address), me},
        registry);
    status->start();
    controller.setObserver([&status](const model::ClusterState& state,
                                     const std::vector<std::string>& ours,
                                     const std::vector<config::Diagnostic>& diagnostics) {
      status->update(state, ours, diagnostics);
    });
  }
  controller.start();

  if (api) {
    log::info("reading objects from the Kubernetes API",
              {{"server", api->server}, {"via", api->source}});
    kube.emplace(
        *api, flags.watch_namespace,
        [&controller](model::ClusterState state) { controller.setState(std::move(state), {}); },
        [&controller] {
          log::info("initial sync done");
          controller.markSynced();
        },
        registry);
    kube->start();
    if (flags.leader_elect) {
      std::string ns = flags.election_namespace;
      if (ns.empty()) {
        const char* pod_ns = std::getenv("POD_NAMESPACE");
        ns = pod_ns != nullptr && *pod_ns != '\0' ? pod_ns
             : !api->namespace_.empty()           ? api->namespace_
                                                  : "default";
      }
      election_client.emplace(*api);
      k8s::LeaderElectionOptions options;
      options.ns = ns;
      options.name = flags.election_id;
      options.identity = me;
      elector.emplace(*election_client, options, [&status, &leader](bool leading) {
        status->setLeading(leading);
        leader.set(leading ? 1 : 0);
      });
      election_thread = std::thread([&elector] { elector->run(); });
    } else {
      status->setLeading(true);
      leader.set(1);
    }
  } else {
    leader.set(1);  // manifests: this replica is the only one
    source_thread = std::thread([&] { watchManifests(*manifests, controller, stopping); });
  }

  int sig = 0;
  sigwait(&signals, &sig);
  log::info("signal received: draining", {{"signal", sig},
                                          {"graceMs", flags.shutdown_grace.count()},
                                          {"connections", server.activeConnections()}});
  admin.setDraining(true);
  if (elector) {
    elector->stop();  // a draining replica hands the lease over at once
    election_thread.join();
  }
  server.drain();
  const bool drained = server.waitIdle(flags.shutdown_grace);
  if (!drained) {
    log::warn("shutdown grace expired; closing the remaining connections",
              {{"connections", server.activeConnections()}});
  }
  stopping.store(true);
  if (manifests) {
    manifests->wake();
    source_thread.join();
  }
  if (status) {
    status->stop();
  }
  if (kube) {
    kube->stop();
  }
  controller.stop();
  server.stop();
  admin.stop();
  log::info("stopped");
  return 0;
}

}  // namespace portico::app
