#pragma once
// Builds a ClusterState from manifest YAML, for compiler and snapshot tests.

#include "model/cluster_state.h"
#include "model/decode.h"
#include "model/yaml_json.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace portico::testing {

inline std::vector<model::Object> objectsFromYaml(const std::string& yaml) {
  std::vector<model::Object> out;
  auto docs = model::parseManifestText(yaml, model::TextFormat::kYaml);
  EXPECT_TRUE(docs.ok()) << (docs.ok() ? "" : docs.error());
  if (!docs.ok()) {
    return out;
  }
  for (const auto& doc : *docs) {
    auto obj = model::decodeObject(doc);
    EXPECT_TRUE(obj.ok()) << (obj.ok() ? "" : obj.error());
    if (obj.ok() && obj->has_value()) {
      out.push_back(**obj);
    }
  }
  return out;
}

inline model::ClusterState stateFrom(const std::vector<model::Object>& objects) {
  model::ClusterState state;
  for (const auto& o : objects) {
    state.upsert(o);
  }
  return state;
}

inline model::ClusterState stateFromYaml(const std::string& yaml) {
  return stateFrom(objectsFromYaml(yaml));
}

// A Service "NAME" in "default" with port 80 named http -> 8080, and one EndpointSlice with
// the given ready addresses.
inline std::string serviceYaml(const std::string& name, const std::vector<std::string>& addrs,
                               const std::string& ns = "default") {
  std::string y = "apiVersion: v1\nkind: Service\nmetadata: {name: " + name + ", namespace: " + ns +
                  "}\nspec:\n  ports: [{name: http, port: 80, targetPort: 8080}]\n---\n"
                  "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: " +
                  name + "-abc\n  namespace: " + ns +
                  "\n  labels: {kubernetes.io/service-name: " + name +
                  "}\naddressType: IPv4\nports: [{name: http, port: 8080}]\nendpoints:\n";
  for (const auto& a : addrs) {
    y += "- addresses: [\"" + a + "\"]\n  conditions: {ready: true}\n";
  }
  if (addrs.empty()) {
    y += "[]\n";
  }
  return y + "---\n";
}

// An Ingress "default/web" of our class: host a, Prefix /, Service web port 80.
inline const std::string kWebIngress = R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: default}
spec:
  ingressClassName: portico
  rules: [{host: a, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}}]
)";

}  // namespace portico::testing
