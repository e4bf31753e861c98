#pragma once
// Active health checks (DESIGN.md, "Health checks run off the hot path"): one thread of its own
// probes the endpoints of every target group whose settings enable checks (HTTP, HTTPS or TCP,
// portico.dev/healthcheck-*), each on its own jittered interval, and sets or clears the
// endpoint's kFailedActiveCheck bit after `unhealthy` failures or `healthy` successes in a row.
// The bits live in the EndpointStates the workers read, so a verdict survives snapshot swaps as
// long as the endpoint stays in its target group; an endpoint that joins starts healthy (it is
// ready by Kubernetes), as the ALB starts a target in "initial" and sends it traffic.
//
// Exposes portico_target_group_endpoints{namespace,service,port,target_group,state} and
// portico_target_group_fail_open{namespace,service,port,target_group}, counted at each scrape
// from the config last given to update(), and counts portico_health_checks_total{result}.
//
// Thread: update() and stop() from the control thread; the metrics from the scraping thread;
// everything else on the checker's own.

#include "common/clock.h"
#include "metrics/registry.h"
#include "runtime/published_config.h"

#include <memory>

namespace portico::health {

class Checker final {
 public:
  Checker(metrics::Registry& registry, std::uint64_t seed);
  ~Checker();
  Checker(const Checker&) = delete;
  Checker& operator=(const Checker&) = delete;

  void start();
  // Checks `config`'s target groups from now on (endpoints kept keep their counts and timers).
  void update(std::shared_ptr<const runtime::PublishedConfig> config);
  void stop();

  // Probes completed since start (for tests waiting on a round of checks).
  std::uint64_t probes() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace portico::health
