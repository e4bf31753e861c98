#pragma once
// ClusterState: every object the controller knows, keyed by "namespace/name" (or "name" for
// cluster-scoped kinds) in sorted maps, so iteration order never depends on arrival order.
// A plain value owned by the controller thread; the compiler reads it by const reference.

#include "model/types.h"

#include <map>
#include <string>

namespace portico::model {

struct ClusterState {
  std::map<std::string, Ingress> ingresses;
  std::map<std::string, IngressClass> ingress_classes;
  std::map<std::string, Service> services;
  std::map<std::string, EndpointSlice> endpoint_slices;
  std::map<std::string, Secret> secrets;
  std::map<std::string, ConfigMap> config_maps;

  // Inserts or replaces the object; returns false when an equal object was already there
  // (the event changes nothing portico reads).
  bool upsert(const Object& object);
  // Removes the object of that kind and key; returns whether it was there.
  bool erase(const Object& object);
  std::size_t size() const;
  bool operator==(const ClusterState&) const = default;
};

}  // namespace portico::model
