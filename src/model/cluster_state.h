#pragma once
// ClusterState: every object the controller knows, keyed by "namespace/name" (or "name" for
// cluster-scoped kinds) in sorted maps, so iteration order never depends on arrival order.
// A plain value owned by the controller thread; the compiler reads it by const reference.
//
// Objects are shared and immutable: each map holds a std::shared_ptr<const T> per object, so a
// copy of the state (the source hands one to the controller on every watch event, the
// controller keeps the last compiled one, the status writer its own) copies keys and pointers,
// never the objects, and comparing two states compares pointers before contents. With 10,000
// Ingresses a deep copy cost tens of milliseconds and megabytes per event (issue 7).

#include "model/types.h"

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

  const_iterator begin() const { return const_iterator(map_.begin()); }
  const_iterator end() const { return const_iterator(map_.end()); }
  const_iterator find(std::string_view key) const { return const_iterator(map_.find(key)); }
  std::size_t count(std::string_view key) const { return map_.find(key) != map_.end() ? 1 : 0; }
  bool contains(std::string_view key) const { return map_.find(key) != map_.end(); }
  std::size_t size() const { return map_.size(); }
  bool empty() const { return map_.empty(); }

  // Inserts or replaces; false when an equal object was already there (nothing changed).
  bool upsert(const std::string& key, std::shared_ptr<const T> object) {
    auto [it, inserted] = map_.try_emplace(key, object);
    if (inserted) {
      return true;
    }
    if (it->second == object || *it->second == *object) {
      return false;
    }
    it->second = std::move(object);
    return true;
  }
  bool upsert(const std::string& key, const T& object) {
    auto it = map_.find(key);
    if (it != map_.end() && *it->second == object) {
      return false;
    }
    auto shared = std::make_shared<const T>(object);
    if (it != map_.end()) {
      it->second = std::move(shared);
    } else {
      map_.emplace(key, std::move(shared));
    }
    return true;
  }
  bool erase(std::string_view key) {
    auto it = map_.find(key);
    if (it == map_.end()) {
      return false;
    }
    map_.erase(it);
    return true;
  }
  void clear() { map_.clear(); }

  bool operator==(const ObjectMap& other) const {
    if (map_.size() != other.map_.size()) {
      return false;
    }
    for (auto a = map_.begin(), b = other.map_.begin(); a != map_.end(); ++a, ++b) {
      if (a->first != b->first || (a->second != b->second && !(*a->second == *b->second))) {
        return false;
      }
    }
    return true;
  }

 private:
  Map map_;
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
