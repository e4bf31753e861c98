#pragma once
// A reflector for one resource type, with client-go's failure behaviour:
// - list (paginated, limit 500), then watch from the list's resourceVersion with bookmarks and
//   a random timeoutSeconds in [300, 600) (client-go's choice, so watches end spread out);
// - a watch that ends cleanly is re-opened from the last resourceVersion seen, without a list;
// - a 410 Expired (HTTP or ERROR event) relists, first from the last resourceVersion seen, then,
//   if that is gone too, from scratch ("");
// - any other failure waits with jittered exponential backoff from 0.8 s to 30 s, reset once a
//   watch has run healthy for 2 minutes; a watch that ends within 1 s without any event counts
//   as a failure (it would otherwise spin);
// - objects that do not decode are reported, not applied.
//
// Guarantees to the handler: replace() after every list with the whole current set; then
// upsert()/remove() in the order the server sent them. Calls come from the reflector's thread.

#include "k8s/api_client.h"
#include "model/types.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace portico::k8s {

struct ResourceKind {
  std::string kind;         // "Ingress"
  std::string api_version;  // "networking.k8s.io/v1"
  std::string plural;       // "ingresses"
  bool namespaced = true;

  // "/apis/networking.k8s.io/v1/ingresses", or ".../namespaces/NS/ingresses" when ns is set.
  std::string collectionPath(const std::string& ns) const;
};

// The kinds portico reads, in the order they are listed.
const std::vector<ResourceKind>& watchedKinds();

struct ReflectorHandler {
  std::function<void(const ResourceKind&, std::vector<model::Object>)> replace;
  std::function<void(const model::Object&)> upsert;
  std::function<void(const model::Object&)> remove;
  // A degraded moment, already described.
  std::function<void(const ResourceKind&, const std::string&)> problem;
  // Optional, for metrics: each watch event by type, and each completed list.
  std::function<void(const ResourceKind&, const std::string& type)> event;
  std::function<void(const ResourceKind&)> listed;
};

class Reflector final {
 public:
  // Why each constant has its value: see the header comment.
  static constexpr std::chrono::milliseconds kInitialBackoff{800};
  static constexpr std::chrono::milliseconds kMaxBackoff{30'000};
  static constexpr std::chrono::minutes kBackoffReset{2};
  static constexpr int kMinWatchSeconds = 300;
  static constexpr int kMaxWatchSeconds = 600;
  static constexpr int kPageSize = 500;

  Reflector(ApiClient& client, ResourceKind kind, std::string ns, ReflectorHandler handler,
            std::uint64_t seed);

  // Blocks until stop(); call on a thread of its own.
  void run();
  void stop();
  bool synced() const { return synced_.load(); }
  std::uint64_t lists() const { return lists_.load(); }

 private:
  enum class ListResult { kOk, kExpired, kFailed };
  // A consistent read (no resourceVersion), as client-go relists after a 410: a list at the
  // version the watch lost would be served exactly from etcd, at that old version, and the
  // watch that follows would get 410 again from a watch cache that has moved on (a restarted
  // kube-apiserver's does), for ever.
  ListResult list();
  // Returns false when the watch failed (backoff); sets relist_ on 410.
  bool watch();
  void handleLine(std::string_view line, bool* saw_event);
  std::optional<model::Object> decode(nlohmann::json object);
  void waitBackoff();

  ApiClient& client_;
  const ResourceKind kind_;
  const std::string ns_;
  ReflectorHandler handler_;
  std::mt19937_64 rng_;
  std::string rv_;
  bool relist_ = true;
  std::chrono::milliseconds backoff_ = kInitialBackoff;
  std::atomic<bool> synced_{false};
  std::atomic<std::uint64_t> lists_{0};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
};

}  // namespace portico::k8s
