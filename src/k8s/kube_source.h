#pragma once
// The Kubernetes API source: one reflector per kind portico reads (IngressClass, Ingress,
// Service, EndpointSlice, Secret of type kubernetes.io/tls), each on a thread of its own,
// merged into one ClusterState. Every change hands the whole state to `publish` (the
// controller debounces and compiles); `synced` is called once, when every reflector has
// listed. While the API server is unreachable nothing is published, so traffic keeps flowing on
// the last snapshot.
//
// Threads: start()/stop() from the owner; publish and synced are called from reflector threads.

#include "k8s/api_client.h"
#include "k8s/reflector.h"
#include "metrics/registry.h"
#include "model/cluster_state.h"

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace portico::k8s {

class KubeSource final {
 public:
  using Publish = std::function<void(model::ClusterState)>;

  KubeSource(ApiConfig config, std::string watch_namespace, Publish publish,
             std::function<void()> synced, metrics::Registry& registry);
  ~KubeSource();
  KubeSource(const KubeSource&) = delete;
  KubeSource& operator=(const KubeSource&) = delete;

  void start();
  void stop();
  bool synced() const;
  ApiClient& client() { return client_; }
  // Lists done by all reflectors (the first ones, and every relist).
  std::uint64_t lists() const;

 private:
  void apply(const std::function<bool(model::ClusterState&)>& change);

  ApiClient client_;
  std::string watch_namespace_;
  Publish publish_;
  std::function<void()> on_synced_;
  // Per resource (its plural): API errors, lists, and watch events by type.
  struct KindCounters {
    metrics::Counter* errors = nullptr;
    metrics::Counter* lists = nullptr;
    std::map<std::string, metrics::Counter*> events;  // ADDED, MODIFIED, DELETED, BOOKMARK, ERROR
  };
  std::map<std::string, KindCounters> counters_;
  std::mutex mutex_;
  model::ClusterState state_;
  bool announced_synced_ = false;
  std::vector<std::unique_ptr<Reflector>> reflectors_;
  std::vector<std::thread> threads_;
};

}  // namespace portico::k8s
