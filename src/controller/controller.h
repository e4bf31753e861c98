#pragma once
// The control loop: owns the ClusterState on its own thread, compiles the *whole* state after a
// short holdoff (level-triggered, never deltas) and publishes the snapshot.
//
// Guarantees:
// - nothing is compiled before markSynced() (every source has delivered its initial state);
// - a change that comes after `quiet` without compiles is compiled at once; a change that
//   comes sooner (a burst) waits for `quiet` without further changes, but never longer than
//   `max_delay` after the first one (DESIGN.md: 100 ms, max 1 s);
// - a state equal to the last compiled one is not compiled again;
// - a state that differs from the last compiled one in EndpointSlices only gets new endpoints
//   on the last snapshot's routes (config::recompileEndpoints: milliseconds at 10,000 Ingresses,
//   where a compile takes a hundred), with the same diagnostics;
// - each new diagnostic is logged at warn once, and counted in portico_config_diagnostics.
// Threads: setState()/markSynced() from any thread; publish runs on the controller's thread.

#include "config/compiler.h"
#include "dns/resolver.h"
#include "metrics/registry.h"
#include "model/cluster_state.h"
#include "snapshot/snapshot.h"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace portico::controller {

struct Debounce {
  std::chrono::milliseconds quiet{100};
  std::chrono::milliseconds max_delay{1000};
  // How often the Secret checks of the last compile are run again without any change: a
  // certificate that expires meanwhile leaves the SNI table within this period (and its
  // diagnostic appears), though no object changed.
  std::chrono::milliseconds secret_recheck{60'000};
};

class Controller final {
 public:
  using Publish = std::function<void(std::shared_ptr<const snapshot::Snapshot>)>;
  // Told after every compile what was compiled and what it found (the status writer).
  using Observer = std::function<void(const model::ClusterState&, const std::vector<std::string>&,
                                      const std::vector<config::Diagnostic>&)>;

  Controller(config::Options options, Publish publish, metrics::Registry& registry,
             Debounce debounce = {});
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Checks the TLS Secrets and the backend CA Secrets before each compile (src/tls's
  // CertificateStore: parsed once per Secret version); the compiler takes the checks as input.
  // Without one, every Secret counts as not checked: TLS hosts get the default certificate, and
  // backends verified with a CA Secret cannot be connected to.
  using SecretChecker = std::function<config::SecretChecks(const model::ClusterState&)>;

  // Before start().
  void setObserver(Observer observer) { observer_ = std::move(observer); }
  void setSecretChecker(SecretChecker checker) { check_secrets_ = std::move(checker); }
  // How ExternalName Services' names are resolved (tests point it at their own server).
  void setResolverOptions(dns::ResolverOptions options) { resolver_options_ = std::move(options); }
  void start();
  void stop();

  // The whole state as the source sees it now, and the source's own problems (files that do
  // not parse, invalid objects), which are logged and counted like diagnostics.
  void setState(model::ClusterState state, std::vector<std::string> source_errors);
  void markSynced();

  // Snapshots published so far.
  std::uint64_t generation() const;
  std::vector<config::Diagnostic> diagnostics() const;

 private:
  void run();
  // `force`: compile even when the state is the one compiled last (a Secret check changed).
  void compileAndPublish(const model::ClusterState& state, const std::vector<std::string>& errors,
                         bool force = false);
  // The Secret checks of the last compiled state, run again: recompiles when one changed.
  void recheckSecrets();

  const config::Options options_;
  const Publish publish_;
  Observer observer_;
  SecretChecker check_secrets_;
  dns::ResolverOptions resolver_options_;
  std::unique_ptr<dns::Resolver> resolver_;  // made by start()
  const Debounce debounce_;
  static void observe(std::chrono::steady_clock::time_point started, metrics::Histogram& duration);
  void published();  // the last success's timestamp
  metrics::Registry& registry_;
  metrics::Gauge& source_errors_gauge_;
  metrics::Gauge& generation_gauge_;
  metrics::Gauge& last_success_;
  metrics::Histogram& compile_duration_;
  metrics::Counter& compiles_;
  metrics::Histogram& endpoint_update_duration_;
  metrics::Counter& endpoint_updates_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  model::ClusterState pending_;
  std::vector<std::string> pending_errors_;
  bool dirty_ = false;
  bool resolved_dirty_ = false;  // the resolver has new addresses
  bool synced_ = false;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point first_change_{};
  std::chrono::steady_clock::time_point last_change_{};
  std::chrono::steady_clock::time_point last_compile_{};
  std::chrono::steady_clock::time_point next_recheck_{};
  std::uint64_t generation_ = 0;
  std::vector<config::Diagnostic> diagnostics_;

  // Controller thread only.
  std::set<std::string> logged_;
  bool compiled_once_ = false;
  model::ClusterState compiled_state_;
  std::vector<std::string> compiled_errors_;
  config::SecretChecks compiled_checks_;
  std::shared_ptr<const snapshot::Snapshot> compiled_snapshot_;
  std::vector<config::TargetGroupSource> compiled_sources_;
  std::thread thread_;
};

}  // namespace portico::controller
