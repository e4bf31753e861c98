#pragma once
// A synthetic cluster for micro-benchmarks: N Ingresses, each with its own host, four paths
// and its own Service with three ready endpoints; with `tls`, each also serves its host over
// TLS from its own kubernetes.io/tls Secret (whose check syntheticChecks() gives).

#include "config/compiler.h"
#include "model/cluster_state.h"

#include <string>

namespace portico::bench {

inline model::ClusterState syntheticState(int ingresses, bool tls = false) {
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
    if (tls) {
      model::Secret secret;
      secret.meta.namespace_ = svc.meta.namespace_;
      secret.meta.name = "tls" + n;
      secret.type = "kubernetes.io/tls";
      ing.tls.push_back({{rule.host}, secret.meta.name});
      state.upsert(secret);
    }
    state.upsert(svc);
    state.upsert(slice);
    state.upsert(ing);
  }
  return state;
}

// The checks the controller would pass for syntheticState(n, true): every Secret good, naming
// its Ingress's host (parsing PEM is the CertificateStore's, once per Secret version).
inline config::SecretChecks syntheticChecks(int ingresses) {
  config::SecretChecks checks;
  for (int i = 0; i < ingresses; ++i) {
    const std::string n = std::to_string(i);
    checks["ns" + std::to_string(i % 50) + "/tls" + n] =
        config::SecretCheck{true, "", {"host" + n + ".example.com"}};
  }
  return checks;
}

}  // namespace portico::bench
