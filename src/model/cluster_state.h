#pragma once
// ClusterState: every object the controller knows, keyed by "namespace/name" (or "name" for
// cluster-scoped kinds) in sorted maps, so iteration order never depends on arrival order.
// A plain value owned by the controller thread; the compiler reads it by const reference.
//
// Objects are shared and immutable, and so are the maps until they change: each map holds a
// std::shared_ptr<const T> per object, and an ObjectMap shares its whole map with its copies
// until one of them is changed (copy on write). A copy of the state (the source hands one to
// the controller on every watch event, the controller keeps the last compiled one, the status
// writer its own) copies six pointers; an event then copies the one map it changes (keys and
// pointers, never the objects); comparing two states compares pointers before contents. With
// 10,000 Ingresses a deep copy cost tens of milliseconds and megabytes per event (issue 7).

#include "model/types.h"

#include <atomic>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace portico::model {

// A sorted map from key to shared immutable object, read like std::map<std::string, T>:
// iterating yields pairs of (const std::string&, const T&), `it->second` is the object.
template <class T>
class ObjectMap {
  using Map = std::map<std::string, std::shared_ptr<const T>, std::less<>>;
  static const std::shared_ptr<Map>& emptyMap() {
    static const auto empty = std::make_shared<Map>();
    return empty;
  }

 public:
  using value_type = std::pair<const std::string&, const T&>;

  class const_iterator {
   public:
    using iterator_category = std::bidirectional_iterator_tag;
    using value_type = ObjectMap::value_type;
    using difference_type = std::ptrdiff_t;
    using reference = value_type;
    struct pointer {
      value_type pair;
      const value_type* operator->() const { return &pair; }
    };

    const_iterator() = default;
    explicit const_iterator(typename Map::const_iterator it) : it_(it) {}
    reference operator*() const { return {it_->first, *it_->second}; }
    pointer operator->() const { return pointer{**this}; }
    const_iterator& operator++() {
      ++it_;
      return *this;
    }
    const_iterator operator++(int) {
      auto old = *this;
      ++it_;
      return old;
    }
    const_iterator& operator--() {
      --it_;
      return *this;
    }
    bool operator==(const const_iterator&) const = default;
    // The shared object itself, for holders that outlive the map.
    const std::shared_ptr<const T>& shared() const { return it_->second; }

   private:
    typename Map::const_iterator it_;
  };
  using iterator = const_iterator;

  ObjectMap() : map_(emptyMap()) {}

  const_iterator begin() const { return const_iterator(map_->begin()); }
  const_iterator end() const { return const_iterator(map_->end()); }
  const_iterator find(std::string_view key) const { return const_iterator(map_->find(key)); }
  std::size_t count(std::string_view key) const { return contains(key) ? 1 : 0; }
  bool contains(std::string_view key) const { return map_->find(key) != map_->end(); }
  std::size_t size() const { return map_->size(); }
  bool empty() const { return map_->empty(); }

  // Inserts or replaces; false when an equal object was already there (nothing changed).
  bool upsert(const std::string& key, std::shared_ptr<const T> object) {
    auto it = map_->find(key);
    if (it != map_->end() && (it->second == object || *it->second == *object)) {
      return false;
    }
    (*writable())[key] = std::move(object);
    return true;
  }
  bool upsert(const std::string& key, const T& object) {
    auto it = map_->find(key);
    if (it != map_->end() && *it->second == object) {
      return false;
    }
    (*writable())[key] = std::make_shared<const T>(object);
    return true;
  }
  bool erase(std::string_view key) {
    if (!contains(key)) {
      return false;
    }
    Map& map = *writable();
    map.erase(map.find(key));
    return true;
  }
  void clear() { map_ = emptyMap(); }

  bool operator==(const ObjectMap& other) const {
    if (map_ == other.map_) {
      return true;  // one map, shared
    }
    if (map_->size() != other.map_->size()) {
      return false;
    }
    for (auto a = map_->begin(), b = other.map_->begin(); a != map_->end(); ++a, ++b) {
      // One object is one key: equal pointers need no key compare.
      if (a->second != b->second && (a->first != b->first || !(*a->second == *b->second))) {
        return false;
      }
    }
    return true;
  }

 private:
  // The map, copied first when another ObjectMap shares it.
  // A count of 1 means no other thread holds the map any more; the fence orders this thread's
  // writes after their last reads (their shared_ptr release).
  Map* writable() {
    if (map_.use_count() > 1) {
      map_ = std::make_shared<Map>(*map_);
    } else {
      std::atomic_thread_fence(std::memory_order_acquire);
    }
    return map_.get();
  }

  std::shared_ptr<Map> map_;
};

struct ClusterState {
  ObjectMap<Ingress> ingresses;
  ObjectMap<IngressClass> ingress_classes;
  ObjectMap<Service> services;
  ObjectMap<EndpointSlice> endpoint_slices;
  ObjectMap<Secret> secrets;
  ObjectMap<ConfigMap> config_maps;

  // Inserts or replaces the object; returns false when an equal object was already there
  // (the event changes nothing portico reads).
  bool upsert(const Object& object);
  // Removes the object of that kind and key; returns whether it was there.
  bool erase(const Object& object);
  std::size_t size() const;
  bool operator==(const ClusterState&) const = default;
};

}  // namespace portico::model
