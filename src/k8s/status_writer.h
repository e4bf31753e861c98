#pragma once
// Ingress status and Kubernetes Events, written by the leader only.
//
// Level-triggered: after every compile the controller hands over the whole state and what the
// compile found; a thread of its own compares the status each Ingress should have with the one
// it has and writes only the differences (so writes are de-duplicated by construction), as JSON
// merge patches of `status` (no resourceVersion, so no 409 to handle: the list
// status.loadBalancer.ingress is atomic and replaced whole). Failed writes are tried again on
// the next pass, after a backoff of 1 s doubling to 60 s, so a struggling API server is not
// hammered. Ingresses that are ours get the addresses; an Ingress that was ours and is not any
// more has its status cleared; Ingresses of other classes are never touched.
//
// Each Ingress diagnostic becomes one Warning Event on the Ingress, once per process.
//
// Threads: update() and setLeading() from any thread; writes happen on the writer's thread.

#include "config/compiler.h"
#include "k8s/api_client.h"
#include "metrics/registry.h"
#include "model/cluster_state.h"

#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace portico::k8s {

struct StatusOptions {
  std::string publish_service;                 // "NS/NAME"
  std::vector<std::string> publish_addresses;  // IPs or host names
  std::string identity;                        // reportingInstance of Events
};

class StatusWriter final {
 public:
  StatusWriter(ApiConfig config, StatusOptions options, metrics::Registry& registry);
  ~StatusWriter();
  StatusWriter(const StatusWriter&) = delete;
  StatusWriter& operator=(const StatusWriter&) = delete;

  void start();
  void stop();
  void setLeading(bool leading);
  void update(const model::ClusterState& state, const std::vector<std::string>& ours,
              const std::vector<config::Diagnostic>& diagnostics);
  std::uint64_t writes() const { return writes_.load(); }

  // The status addresses for `state`: --publish-status-address, else the --publish-service's
  // load-balancer addresses, else its ClusterIP. Empty: no status is written.
  static std::vector<model::LoadBalancerIngress> addresses(const StatusOptions& options,
                                                           const model::ClusterState& state);

 private:
  void run();
  bool pass();  // one round of writes; false when something failed

  ApiClient client_;
  const StatusOptions options_;
  metrics::Counter& status_writes_;
  metrics::Counter& event_writes_;
  metrics::Counter& failures_;
  std::atomic<std::uint64_t> writes_{0};

  std::mutex mutex_;
  std::condition_variable cv_;
  bool leading_ = false;
  bool stop_ = false;
  bool dirty_ = false;
  model::ClusterState state_;
  std::vector<std::string> ours_;
  std::vector<config::Diagnostic> diagnostics_;

  // Writer thread only.
  std::set<std::string> previously_ours_;
  std::set<std::string> evented_;
  std::thread thread_;
};

}  // namespace portico::k8s
