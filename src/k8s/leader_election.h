#pragma once
// Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics: lease duration
// 15 s, renew deadline 10 s, retry period 2 s (client-go's defaults, which the Kubernetes
// controllers use); optimistic concurrency through resourceVersion; a holder is considered
// alive while its record keeps changing within the lease duration, measured on our own clock
// (no trust in the other replica's clock); the lease is released on shutdown so a successor
// need not wait it out.
//
// Threads: run() blocks on a thread of its own; on_change is called from it; stop() and
// leading() from any thread.

#include "k8s/api_client.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>

namespace portico::k8s {

struct LeaderElectionOptions {
  std::string ns;
  std::string name = "portico-leader";
  std::string identity;
  std::chrono::milliseconds lease_duration{15'000};
  std::chrono::milliseconds renew_deadline{10'000};
  std::chrono::milliseconds retry_period{2'000};
};

class LeaderElector final {
 public:
  LeaderElector(ApiClient& client, LeaderElectionOptions options,
                std::function<void(bool leading)> on_change);

  void run();
  // Makes run() return; it releases the lease first if it holds it.
  void stop();
  bool leading() const { return leading_.load(); }

 private:
  // One attempt to acquire or renew; true when we hold the lease afterwards.
  bool tryAcquireOrRenew();
  void setLeading(bool leading);
  bool sleepFor(std::chrono::milliseconds d);  // false when stopped
  void release();

  ApiClient& client_;
  const LeaderElectionOptions options_;
  std::function<void(bool)> on_change_;
  std::atomic<bool> leading_{false};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
  std::string observed_record_;  // holder + renewTime as last seen
  std::chrono::steady_clock::time_point observed_at_{};
};

// "2026-07-24T10:00:00.123456Z": a Kubernetes MicroTime for now.
std::string microTimeNow();

}  // namespace portico::k8s
