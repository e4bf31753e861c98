#include "model/cluster_state.h"

namespace portico::model {

namespace {
template <class T>
bool upsertInto(ObjectMap<T>& map, const T& obj) {
  return map.upsert(obj.meta.key(), obj);
}
}  // namespace

bool ClusterState::upsert(const Object& object) {
  return std::visit(
      [this](const auto& o) -> bool {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, Ingress>) {
          return upsertInto(ingresses, o);
        } else if constexpr (std::is_same_v<T, IngressClass>) {
          return upsertInto(ingress_classes, o);
        } else if constexpr (std::is_same_v<T, Service>) {
          return upsertInto(services, o);
        } else if constexpr (std::is_same_v<T, EndpointSlice>) {
          return upsertInto(endpoint_slices, o);
        } else if constexpr (std::is_same_v<T, Secret>) {
          return upsertInto(secrets, o);
        } else {
          return upsertInto(config_maps, o);
        }
      },
      object);
}

bool ClusterState::erase(const Object& object) {
  const std::string key = metaOf(object).key();
  switch (object.index()) {
    case 0:
      return ingresses.erase(key) > 0;
    case 1:
      return ingress_classes.erase(key) > 0;
    case 2:
      return services.erase(key) > 0;
    case 3:
      return endpoint_slices.erase(key) > 0;
    case 4:
      return secrets.erase(key) > 0;
    default:
      return config_maps.erase(key) > 0;
  }
}

std::size_t ClusterState::size() const {
  return ingresses.size() + ingress_classes.size() + services.size() + endpoint_slices.size() +
         secrets.size() + config_maps.size();
}

}  // namespace portico::model
