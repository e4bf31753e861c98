#include "k8s/kube_source.h"
#include "common/memory.h"

#include "common/log.h"

#include <random>

#ifdef __GLIBC__
#endif

namespace portico::k8s {

namespace {
constexpr char kTlsSecretType[] = "kubernetes.io/tls";

// Secrets other than TLS ones are never kept: portico has no use for them.
bool wanted(const model::Object& o) {
  const auto* secret = std::get_if<model::Secret>(&o);
  return secret == nullptr || secret->type == kTlsSecretType;
}

// Replaces every object of one kind (after a list); true when that changed anything.
template <class T>
bool replaceAll(model::ObjectMap<T>& target, std::vector<model::Object>& objects) {
  model::ObjectMap<T> next;
  for (auto& o : objects) {
    if (T* typed = std::get_if<T>(&o); typed != nullptr && wanted(o)) {
      const std::string key = typed->meta.key();
      // An object equal to the one held keeps its shared copy: a relist allocates only what
      // changed, and the rest is moved in, not copied.
      auto held = target.find(key);
      if (held != target.end() && held->second == *typed) {
        next.upsert(key, held.shared());
      } else {
        next.upsert(key, std::make_shared<const T>(std::move(*typed)));
      }
    }
  }
  if (next == target) {
    return false;
  }
  target = std::move(next);
  return true;
}
}  // namespace

KubeSource::KubeSource(ApiConfig config, std::string watch_namespace, Publish publish,
                       std::function<void()> synced, metrics::Registry& registry)
    : client_(std::move(config)),
      watch_namespace_(std::move(watch_namespace)),
      publish_(std::move(publish)),
      on_synced_(std::move(synced)) {
  for (const auto& kind : watchedKinds()) {
    KindCounters& c = counters_[kind.plural];
    const metrics::Labels resource = {{"resource", kind.plural}};
    c.errors = &registry.counter(
        "portico_api_errors_total",
        "Failed API calls, dropped watches and undecodable objects, by resource.", resource);
    c.lists =
        &registry.counter("portico_watch_relists_total",
                          "Full lists of a resource (the first, and after a 410 Gone).", resource);
    for (const char* type : {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"}) {
      c.events[type] = &registry.counter("portico_watch_events_total",
                                         "Watch events received, by resource and type.",
                                         {{"resource", kind.plural}, {"type", type}});
    }
  }
}

KubeSource::~KubeSource() { stop(); }

void KubeSource::apply(const std::function<bool(model::ClusterState&)>& change) {
  bool now_synced = false;
  model::ClusterState copy;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (!change(state_)) {
      return;
    }
    copy = state_;
    if (!announced_synced_ && synced()) {
      announced_synced_ = true;
      now_synced = true;
    }
  }
  publish_(std::move(copy));
  if (now_synced) {
    on_synced_();
  }
}

void KubeSource::start() {
  ReflectorHandler handler;
  handler.replace = [this](const ResourceKind& kind, std::vector<model::Object> objects) {
    apply([&](model::ClusterState& s) {
      bool changed = false;
      if (kind.kind == "Ingress") {
        changed = replaceAll(s.ingresses, objects);
      } else if (kind.kind == "IngressClass") {
        changed = replaceAll(s.ingress_classes, objects);
      } else if (kind.kind == "Service") {
        changed = replaceAll(s.services, objects);
      } else if (kind.kind == "EndpointSlice") {
        changed = replaceAll(s.endpoint_slices, objects);
      } else if (kind.kind == "Secret") {
        changed = replaceAll(s.secrets, objects);
      }
      // A first list always counts as a change: it may complete the initial sync.
      return changed || !announced_synced_;
    });
    objects.clear();
    // A list of 10,000 objects parses through a JSON tree several times its size; the freed
    // pages stay in this reflector thread's malloc arena unless they are given back (glibc
    // keeps an arena per thread). Once per list, never per event.
    releaseFreedMemory();
  };
  handler.upsert = [this](const model::Object& o) {
    apply([&](model::ClusterState& s) { return wanted(o) ? s.upsert(o) : s.erase(o); });
  };
  handler.remove = [this](const model::Object& o) {
    apply([&](model::ClusterState& s) { return s.erase(o); });
  };
  handler.problem = [this](const ResourceKind& kind, const std::string& what) {
    counters_.at(kind.plural).errors->inc();
    log::warn("kubernetes API problem", {{"error", what}});
  };
  handler.event = [this](const ResourceKind& kind, const std::string& type) {
    const auto& events = counters_.at(kind.plural).events;
    if (auto it = events.find(type); it != events.end()) {
      it->second->inc();
    }
  };
  handler.listed = [this](const ResourceKind& kind) { counters_.at(kind.plural).lists->inc(); };
  std::random_device rd;
  for (const auto& kind : watchedKinds()) {
    reflectors_.push_back(std::make_unique<Reflector>(
        client_, kind, kind.namespaced ? watch_namespace_ : std::string(), handler, rd()));
  }
  for (auto& r : reflectors_) {
    Reflector* rp = r.get();
    threads_.emplace_back([rp] { rp->run(); });
  }
}

void KubeSource::stop() {
  for (auto& r : reflectors_) {
    r->stop();
  }
  client_.cancel();
  for (auto& t : threads_) {
    if (t.joinable()) {
      t.join();
    }
  }
  threads_.clear();
}

bool KubeSource::synced() const {
  for (const auto& r : reflectors_) {
    if (!r->synced()) {
      return false;
    }
  }
  return !reflectors_.empty();
}

std::uint64_t KubeSource::lists() const {
  std::uint64_t n = 0;
  for (const auto& r : reflectors_) {
    n += r->lists();
  }
  return n;
}

}  // namespace portico::k8s
