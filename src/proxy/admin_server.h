#pragma once
// The admin listener: /healthz (the process is up), /readyz (a first snapshot is published and
// we are not draining) and /metrics (Prometheus text). One thread of its own, never a proxy
// worker's. set*() may be called from any thread.

#include "common/result.h"
#include "metrics/registry.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace portico::proxy {

class AdminServer final {
 public:
  explicit AdminServer(metrics::Registry& registry);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  Result<std::uint16_t> start(const std::string& bind, std::uint16_t port);
  void stop();

  void setReady(bool ready) { ready_.store(ready); }
  void setDraining(bool draining) { draining_.store(draining); }
  bool ready() const { return ready_.load() && !draining_.load(); }
  metrics::Registry& registry() { return registry_; }

 private:
  struct Impl;
  metrics::Registry& registry_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> draining_{false};
  std::unique_ptr<Impl> impl_;
};

}  // namespace portico::proxy
