#pragma once
// An in-process proxy with real listeners on port 0 and real echo backends, for integration
// tests: manifests in, snapshot compiled and published, requests over loopback.

#include "config/compiler.h"
#include "echo_backend.h"
#include "http_client.h"
#include "manifests.h"
#include "metrics/registry.h"
#include "metrics_text.h"
#include "model/decode.h"
#include "model/yaml_json.h"
#include "proxy/server.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace portico::testing {

// The value of one series (`name{labels}` exactly as exposed) in the registry's exposition, 0
// when it is not there.
inline std::uint64_t metricValue(const metrics::Registry& r, const std::string& series) {
  const std::string text = r.expose();
  const std::size_t at = text.find("\n" + series + " ");
  return at == std::string::npos ? 0 : std::stoull(text.substr(at + series.size() + 2));
}

inline std::int64_t unixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline model::ClusterState stateOfYaml(const std::string& yaml) {
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
  return state;
}

inline std::shared_ptr<const snapshot::Snapshot> compileYaml(const std::string& yaml) {
  auto result = config::compile(stateOfYaml(yaml), {});
  for (const auto& diag : result.diagnostics) {
    ADD_FAILURE() << diag.toString();
  }
  return std::make_shared<const snapshot::Snapshot>(std::move(result.snapshot));
}

class ProxyFixture {
 public:
  explicit ProxyFixture(proxy::ProxyConfig config = defaultConfig(),
                        proxy::ServerOptions options = {})
      : server_(config, registry_, std::move(options)) {
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
  void publish(std::shared_ptr<const snapshot::Snapshot> snapshot,
               std::shared_ptr<const tls::SniTable> sni = nullptr,
               std::unordered_map<std::string, tls::SslCtxPtr> ca_contexts = {}) {
    const auto before = server_.installedGeneration();
    server_.publish(std::move(snapshot), std::move(sni), std::move(ca_contexts));
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
