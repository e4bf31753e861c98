#pragma once
// The object store of test-apiserver: Kubernetes objects as JSON, one global resourceVersion,
// a bounded history of watch events, label and field selectors, optimistic concurrency, the
// status subresource and the patch types kubectl sends. Single-threaded: the server calls it
// from its one I/O thread.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace portico::apiserver {

using nlohmann::json;

struct ResourceType {
  std::string group;  // "" for core
  std::string version;
  std::string resource;  // plural, as in URLs
  std::string kind;
  std::string singular;
  std::vector<std::string> short_names;
  bool namespaced = true;
  bool has_status = false;
  bool unconditional_update = true;  // PUT without resourceVersion allowed (not for Lease)

  std::string apiVersion() const { return group.empty() ? version : group + "/" + version; }
  // "ingresses.networking.k8s.io", "services" (as in Status messages)
  std::string qualified() const { return group.empty() ? resource : resource + "." + group; }
};

const std::vector<ResourceType>& resourceTypes();
const ResourceType* findResource(const std::string& group, const std::string& version,
                                 const std::string& resource);

// An answer: HTTP status code and body (the object, a list, or a Status).
struct Outcome {
  int code = 200;
  json body;
};

json statusError(int code, const std::string& reason, const std::string& message,
                 const json& details = nullptr);

struct WatchEvent {
  std::uint64_t rv = 0;
  std::string type;  // ADDED, MODIFIED, DELETED
  const ResourceType* rt = nullptr;
  json object;      // new state (DELETED: last state, with the delete's resourceVersion)
  json old_object;  // previous state, for selector transitions (null on ADDED)
};

// A parsed label or field selector. Empty matches everything.
class Selector final {
 public:
  static std::optional<Selector> parseLabels(const std::string& text, std::string* error);
  static std::optional<Selector> parseFields(const std::string& text, const ResourceType& rt,
                                             std::string* error);
  bool matches(const json& object) const;

 private:
  struct Requirement {
    std::string key;
    enum class Op { kEq, kNotEq, kIn, kNotIn, kExists, kNotExists } op;
    std::vector<std::string> values;
  };
  bool fields_ = false;
  std::vector<Requirement> requirements_;
};

class Store final {
 public:
  explicit Store(std::size_t history_limit = 1000);

  Outcome create(const ResourceType& rt, const std::string& ns, json object);
  Outcome get(const ResourceType& rt, const std::string& ns, const std::string& name) const;
  // ns empty: every namespace.
  Outcome list(const ResourceType& rt, const std::string& ns, const Selector& labels,
               const Selector& fields) const;
  // The list as it was at `rv` (a list with resourceVersionMatch=Exact, or a resourceVersion and
  // a limit), rebuilt from the history as etcd serves it from its revisions; 410 Expired when
  // the history no longer reaches back to `rv`.
  Outcome listAt(const ResourceType& rt, const std::string& ns, const Selector& labels,
                 const Selector& fields, std::uint64_t rv) const;
  Outcome update(const ResourceType& rt, const std::string& ns, const std::string& name,
                 json object, bool status);
  // content_type: merge-patch, strategic-merge-patch or json-patch.
  Outcome patch(const ResourceType& rt, const std::string& ns, const std::string& name,
                const json& patch, const std::string& content_type, bool status);
  Outcome remove(const ResourceType& rt, const std::string& ns, const std::string& name);

  std::uint64_t resourceVersion() const { return rv_; }
  // The oldest resourceVersion a watch may start from; older ones get 410 Expired.
  std::uint64_t oldestWatchable() const;
  // Forgets the history (a compaction): every watch from an older resourceVersion gets 410.
  void compact();
  // What a restarted kube-apiserver does: its watch cache starts at the current version, so
  // watches from older versions get 410, while etcd keeps its history for exact lists.
  void restartWatchCache() { watch_floor_ = rv_; }
  // Events after `rv` for `rt` (and namespace, if not empty).
  std::vector<const WatchEvent*> eventsSince(std::uint64_t rv, const ResourceType& rt,
                                             const std::string& ns) const;
  // Current objects of a type, in a namespace or all.
  std::vector<json> objects(const ResourceType& rt, const std::string& ns) const;

  // Called for every event, after it is stored.
  void setListener(std::function<void(const WatchEvent&)> listener) {
    listener_ = std::move(listener);
  }

  json save() const;
  bool load(const json& saved);

 private:
  static std::string key(const ResourceType& rt, const std::string& ns, const std::string& name);
  void record(const ResourceType& rt, std::string type, json object, json old_object);
  Outcome notFound(const ResourceType& rt, const std::string& name) const;
  Outcome write(const ResourceType& rt, const std::string& ns, const std::string& name, json next,
                const json& current, bool status);

  std::map<std::string, json> objects_;  // key -> object
  std::uint64_t rv_ = 1;
  std::uint64_t uid_counter_ = 0;
  std::deque<WatchEvent> history_;
  std::size_t history_limit_;
  std::uint64_t compacted_rv_ = 0;
  std::uint64_t watch_floor_ = 0;
  std::function<void(const WatchEvent&)> listener_;
};

// RFC 7386 JSON merge patch.
json mergePatch(json target, const json& patch);
// The strategic merge patch subset kubectl client-side apply needs (see the reference, A.7).
json strategicMergePatch(json target, const json& patch, const std::string& path);
// RFC 6902 JSON patch; nullopt (and *error) when an operation fails.
std::optional<json> jsonPatch(json target, const json& patch, std::string* error);

}  // namespace portico::apiserver
