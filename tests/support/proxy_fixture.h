#pragma once
// An in-process proxy with real listeners on port 0 and real echo backends, for integration
// tests: manifests in, snapshot compiled and published, requests over loopback.

#include "config/compiler.h"
#include "echo_backend.h"
#include "http_client.h"
#include "metrics/registry.h"
#include "model/decode.h"
#include "model/yaml_json.h"
#include "proxy/server.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace portico::testing {

// A Service NAME (port 80, named "http") whose endpoints are 127.0.0.1 at each of `ports`
// (one EndpointSlice per port, as Kubernetes does for pods with different target ports).
inline std::string loopbackService(const std::string& name, const std::vector<std::uint16_t>& ports,
                                   const std::string& ns = "default") {
  std::string y = "apiVersion: v1\nkind: Service\nmetadata: {name: " + name + ", namespace: " + ns +
                  "}\nspec:\n  ports: [{name: http, port: 80, targetPort: http}]\n---\n";
  for (std::size_t i = 0; i < ports.size(); ++i) {
    y += "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: " + name + "-" +
         std::to_string(i) + "\n  namespace: " + ns +
         "\n  labels: {kubernetes.io/service-name: " + name +
         "}\naddressType: IPv4\nports: [{name: http, port: " + std::to_string(ports[i]) +
         "}]\nendpoints: [{addresses: [\"127.0.0.1\"], conditions: {ready: true}}]\n---\n";
  }
  if (ports.empty()) {
    y += "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: " + name +
         "-empty\n  namespace: " + ns + "\n  labels: {kubernetes.io/service-name: " + name +
         "}\naddressType: IPv4\nports: [{name: http, port: 1}]\nendpoints: []\n---\n";
  }
  return y;
}

// An Ingress of our class with one rule: host, Prefix path, service (port 80).
inline std::string simpleIngress(const std::string& name, const std::string& host,
                                 const std::string& path, const std::string& service) {
  return "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: " + name +
         ", namespace: default}\nspec:\n  ingressClassName: portico\n  rules:\n  - host: \"" +
         host + "\"\n    http:\n      paths:\n      - {path: \"" + path +
         "\", pathType: Prefix, backend: {service: {name: " + service +
         ", port: {number: 80}}}}\n---\n";
}

inline std::shared_ptr<const snapshot::Snapshot> compileYaml(const std::string& yaml) {
  model::ClusterState state;
  auto docs = model::parseManifestText(yaml, model::TextFormat::kYaml);
  EXPECT_TRUE(docs.ok());
  for (const auto& d : *docs) {
    auto obj = model::decodeObject(d);
    EXPECT_TRUE(obj.ok()) << (obj.ok() ? "" : obj.error());
    if (obj.ok() && obj->has_value()) {
      state.upsert(**obj);
    }
  }
  auto result = config::compile(state, {});
  for (const auto& diag : result.diagnostics) {
    ADD_FAILURE() << diag.toString();
  }
  return std::make_shared<const snapshot::Snapshot>(std::move(result.snapshot));
}

class ProxyFixture {
 public:
  explicit ProxyFixture(proxy::ProxyConfig config = defaultConfig()) : server_(config, registry_) {
    auto port = server_.start();
    EXPECT_TRUE(port.ok()) << (port.ok() ? "" : port.error());
    port_ = port.ok() ? *port : 0;
  }
  static proxy::ProxyConfig defaultConfig() {
    proxy::ProxyConfig c;
    c.bind = "127.0.0.1";
    c.http_port = 0;
    c.workers = 2;
    return c;
  }
  // Publishes and waits until every worker has installed the snapshot.
  void publish(const std::string& yaml) { publish(compileYaml(yaml)); }
  void publish(std::shared_ptr<const snapshot::Snapshot> snapshot) {
    const auto before = server_.installedGeneration();
    server_.publish(std::move(snapshot));
    EXPECT_TRUE(eventually([&] { return server_.installedGeneration() > before; }));
  }
  std::uint16_t port() const { return port_; }
  proxy::Server& server() { return server_; }
  metrics::Registry& registry() { return registry_; }

 private:
  metrics::Registry registry_;
  proxy::Server server_;
  std::uint16_t port_ = 0;
};

}  // namespace portico::testing
