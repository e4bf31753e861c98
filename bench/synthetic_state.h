#pragma once
// A synthetic cluster for micro-benchmarks: N Ingresses, each with its own host, four paths
// and its own Service with three ready endpoints.

#include "model/cluster_state.h"

#include <string>

namespace portico::bench {

inline model::ClusterState syntheticState(int ingresses) {
  model::ClusterState state;
  for (int i = 0; i < ingresses; ++i) {
    const std::string n = std::to_string(i);
    model::Service svc;
    svc.meta.namespace_ = "ns" + std::to_string(i % 50);
    svc.meta.name = "svc" + n;
    svc.ports.push_back({"http", "TCP", 80, {8080, ""}});
    model::EndpointSlice slice;
    slice.meta.namespace_ = svc.meta.namespace_;
    slice.meta.name = "svc" + n + "-x";
    slice.meta.labels["kubernetes.io/service-name"] = svc.meta.name;
    slice.address_type = "IPv4";
    slice.ports.push_back({std::string("http"), 8080, "TCP"});
    for (int e = 0; e < 3; ++e) {
      slice.endpoints.push_back({{"10." + std::to_string(i / 250) + "." + std::to_string(i % 250) +
                                  "." + std::to_string(e + 1)},
                                 {}});
    }
    model::Ingress ing;
    ing.meta.namespace_ = svc.meta.namespace_;
    ing.meta.name = "ing" + n;
    ing.meta.creation_timestamp = 1700000000 + i;
    ing.ingress_class_name = "portico";
    model::IngressRule rule;
    rule.host = "host" + n + ".example.com";
    for (const char* p : {"/", "/api", "/api/v1/users", "/static"}) {
      rule.paths.push_back(
          {p, std::string(p) == "/api/v1/users" ? "Exact" : "Prefix",
           model::IngressBackend{model::IngressServiceBackend{svc.meta.name, {"", 80}}, {}}});
    }
    ing.rules.push_back(rule);
    state.upsert(svc);
    state.upsert(slice);
    state.upsert(ing);
  }
  return state;
}

}  // namespace portico::bench
