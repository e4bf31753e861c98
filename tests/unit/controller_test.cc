#include "controller/controller.h"
#include "dns_server.h"
#include "http_client.h"
#include "test_state.h"
#include "tls/store.h"

#include <gtest/gtest.h>

#include <mutex>

namespace portico::controller {
namespace {

using namespace std::chrono_literals;
using portico::testing::eventually;
using portico::testing::serviceYaml;
using portico::testing::stateFromYaml;

using portico::testing::kWebIngress;
const std::string& kIngress = kWebIngress;

struct Published {
  std::mutex mutex;
  std::vector<std::shared_ptr<const snapshot::Snapshot>> snapshots;
  std::size_t count() {
    const std::lock_guard<std::mutex> lock(mutex);
    return snapshots.size();
  }
  std::shared_ptr<const snapshot::Snapshot> last() {
    const std::lock_guard<std::mutex> lock(mutex);
    return snapshots.empty() ? nullptr : snapshots.back();
  }
};

class ControllerTest : public ::testing::Test {
 protected:
  ControllerTest()
      : controller_(
            {},
            [this](auto s) {
              const std::lock_guard<std::mutex> lock(published_.mutex);
              published_.snapshots.push_back(std::move(s));
            },
            registry_, Debounce{10ms, 100ms}) {
    controller_.start();
  }
  metrics::Registry registry_;
  Published published_;
  Controller controller_;
};

TEST_F(ControllerTest, NothingIsCompiledBeforeSync) {
  controller_.setState(stateFromYaml(serviceYaml("web", {"10.0.0.1"}) + kIngress), {});
  // Give the loop a real chance to (wrongly) compile: wait for something that cannot happen.
  EXPECT_FALSE(eventually([&] { return published_.count() > 0; }, 200ms));
  controller_.markSynced();
  ASSERT_TRUE(eventually([&] { return published_.count() == 1; }));
  EXPECT_EQ(published_.last()->routeCount(), 1u);
  // The generation counts after the publish returns.
  EXPECT_TRUE(eventually([&] { return controller_.generation() == 1u; }));
}

TEST_F(ControllerTest, SameStateIsNotRecompiledAndChangesAre) {
  controller_.markSynced();
  const auto state = stateFromYaml(serviceYaml("web", {"10.0.0.1"}) + kIngress);
  controller_.setState(state, {});
  ASSERT_TRUE(eventually([&] { return published_.count() == 1; }));
  controller_.setState(state, {});
  controller_.setState(stateFromYaml(serviceYaml("web", {"10.0.0.1", "10.0.0.2"}) + kIngress), {});
  ASSERT_TRUE(eventually([&] {
    auto s = published_.last();
    return s && s->targetGroups().size() == 1 && s->targetGroups()[0].endpoints.size() == 2;
  }));
  EXPECT_LE(published_.count(), 3u);
}

TEST_F(ControllerTest, DiagnosticsAreKeptAndCounted) {
  controller_.markSynced();
  controller_.setState(stateFromYaml(kIngress), {"bad.yaml: invalid YAML"});
  ASSERT_TRUE(eventually([&] { return published_.count() == 1; }));
  const auto diags = controller_.diagnostics();
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags[0].message, "Service default/web not found");
  const std::string text = registry_.expose();
  // By reason: the kind and field, indexes dropped, so that the series stay bounded.
  EXPECT_NE(text.find("portico_config_diagnostics{reason=\"ingress:spec.rules.http.paths.backend."
                      "service.name\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("portico_source_errors 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("portico_config_generation 1\n"), std::string::npos) << text;
}

TEST_F(ControllerTest, DiagnosticReasonsFoldTheNamesObjectsChoose) {
  // Two bad conditions and an unknown portico.dev annotation: the NAME of conditions.NAME is
  // the object's choice, so it is folded; the series count per reason and go when fixed.
  controller_.markSynced();
  const std::string bad = testing::IngressYaml("alb")
                              .annotation("portico.dev/conditions.one", "not json")
                              .annotation("portico.dev/conditions.two", "[]x")
                              .rule("alb.test")
                              .prefix("/", "web")
                              .str();
  controller_.setState(stateFromYaml(serviceYaml("web", {"10.0.0.1"}) + bad), {});
  ASSERT_TRUE(eventually([&] { return published_.count() == 1; }));
  std::string text = registry_.expose();
  EXPECT_NE(
      text.find("portico_config_diagnostics{reason=\"ingress:portico.dev/conditions.*\"} 2\n"),
      std::string::npos)
      << text;
  controller_.setState(stateFromYaml(serviceYaml("web", {"10.0.0.1"}) + kIngress), {});
  ASSERT_TRUE(eventually([&] { return published_.count() == 2; }));
  text = registry_.expose();
  EXPECT_EQ(text.find("portico_config_diagnostics{"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE portico_config_diagnostics gauge\n"), std::string::npos);
}

TEST_F(ControllerTest, BurstsAreCoalesced) {
  controller_.markSynced();
  for (int i = 1; i <= 50; ++i) {
    std::vector<std::string> addrs;
    for (int j = 0; j < i; ++j) {
      addrs.push_back("10.0.0." + std::to_string(j + 1));
    }
    controller_.setState(stateFromYaml(serviceYaml("web", addrs) + kIngress), {});
  }
  ASSERT_TRUE(eventually([&] {
    auto s = published_.last();
    return s && s->targetGroups()[0].endpoints.size() == 50;
  }));
  EXPECT_LT(published_.count(), 50u);  // one compile per holdoff, not one per change
}

// Before each compile the controller has the TLS Secrets checked (the real CertificateStore
// here): good ones serve their hosts, a bad one is a diagnostic naming it, and a Secret is parsed
// again only when it changes.
TEST(ControllerTls, SecretsAreCheckedOncePerVersionBeforeCompiles) {
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  const auto good =
      tls::makeSelfSigned(tls::KeyType::kEcdsaP256, {"a.test"}, now - 60, now + 86400);
  const auto other =
      tls::makeSelfSigned(tls::KeyType::kEcdsaP256, {"b.test"}, now - 60, now + 86400);
  tls::CertificateStore store(tls::ServerTlsSettings{});
  metrics::Registry registry;
  Published published;
  Controller controller(
      {},
      [&](auto s) {
        const std::lock_guard<std::mutex> lock(published.mutex);
        published.snapshots.push_back(std::move(s));
      },
      registry, Debounce{10ms, 100ms});
  controller.setSecretChecker(
      [&](const model::ClusterState& state) { return store.check(state.secrets); });
  controller.start();
  const std::string base = serviceYaml("web", {"10.0.0.1"}) +
                           portico::testing::tlsSecretYaml("good", good.cert, good.key) +
                           portico::testing::IngressYaml("web")
                               .spec(
                                   "  tls:\n  - {hosts: [a.test], secretName: good}\n"
                                   "  - {hosts: [b.test], secretName: bad}\n")
                               .rule("a.test")
                               .prefix("/", "web")
                               .str();
  controller.setState(
      stateFromYaml(base + portico::testing::tlsSecretYaml("bad", good.cert, other.key)), {});
  controller.markSynced();
  ASSERT_TRUE(eventually([&] { return published.count() == 1; }));
  const auto snap = published.last();
  ASSERT_NE(snap->tlsFor("a.test"), nullptr);
  EXPECT_EQ(snap->tlsFor("a.test")->secret, "default/good");
  ASSERT_NE(snap->tlsFor("b.test"), nullptr);
  EXPECT_EQ(snap->tlsFor("b.test")->secret, "");  // the default certificate
  ASSERT_TRUE(eventually([&] { return controller.diagnostics().size() == 1; }));
  EXPECT_EQ(controller.diagnostics()[0].toString(),
            "error: Ingress default/web: spec.tls[1].secretName: Secret default/bad: tls.key does "
            "not match the certificate in tls.crt; its hosts get the default certificate");
  EXPECT_EQ(store.parses(), 2u);

  // The bad Secret fixed: only it is parsed again, and b.test gets its certificate.
  controller.setState(
      stateFromYaml(base + portico::testing::tlsSecretYaml("bad", other.cert, other.key)), {});
  ASSERT_TRUE(eventually([&] { return published.count() == 2; }));
  EXPECT_EQ(published.last()->tlsFor("b.test")->secret, "default/bad");
  EXPECT_EQ(store.parses(), 3u);
  EXPECT_NE(store.context("default/bad"), nullptr);
  controller.stop();
}

// A certificate that expires while nothing changes: the periodic re-check of the last compile's
// Secrets notices, recompiles, and its host falls back to the default certificate with a
// diagnostic; the expiry metric's row keeps the (past) notAfter.
TEST(ControllerTls, ACertificateThatExpiresIsNoticedWithoutAnyChange) {
  std::atomic<std::int64_t> now{1'800'000'000};
  const auto cert = tls::makeSelfSigned(tls::KeyType::kEcdsaP256, {"a.test"}, now - 60, now + 3600);
  tls::CertificateStore store(tls::ServerTlsSettings{}, [&] { return now.load(); });
  metrics::Registry registry;
  Published published;
  Debounce debounce{10ms, 100ms};
  debounce.secret_recheck = 20ms;
  Controller controller(
      {},
      [&](auto s) {
        const std::lock_guard<std::mutex> lock(published.mutex);
        published.snapshots.push_back(std::move(s));
      },
      registry, debounce);
  std::atomic<int> checks{0};
  controller.setSecretChecker([&](const model::ClusterState& state) {
    ++checks;
    return store.check(state.secrets);
  });
  controller.start();
  controller.setState(stateFromYaml(serviceYaml("web", {"10.0.0.1"}) +
                                    portico::testing::tlsSecretYaml("s", cert.cert, cert.key) +
                                    portico::testing::IngressYaml("web")
                                        .spec("  tls:\n  - {hosts: [a.test], secretName: s}\n")
                                        .rule("a.test")
                                        .prefix("/", "web")
                                        .str()),
                      {});
  controller.markSynced();
  ASSERT_TRUE(eventually([&] { return published.count() == 1; }));
  EXPECT_EQ(published.last()->tlsFor("a.test")->secret, "default/s");
  auto rows = store.expiryRows(*published.last());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].second, now.load() + 3600);
  EXPECT_EQ(rows[0].first, (std::vector<std::pair<std::string, std::string>>{
                               {"namespace", "default"}, {"secret", "s"}, {"host", "a.test"}}));
  // Re-checks while it is valid publish nothing new.
  const auto parses = store.parses();
  now += 1800;
  const int before = checks.load();
  ASSERT_TRUE(eventually([&] { return checks.load() >= before + 3; }));
  EXPECT_EQ(published.count(), 1u);

  now += 3600;  // expired
  ASSERT_TRUE(eventually([&] { return published.count() == 2; }));
  EXPECT_EQ(published.last()->tlsFor("a.test")->secret, "");  // the default certificate
  ASSERT_TRUE(eventually([&] { return controller.diagnostics().size() == 1; }));
  EXPECT_NE(controller.diagnostics()[0].message.find("expired"), std::string::npos)
      << controller.diagnostics()[0].toString();
  EXPECT_EQ(store.parses(), parses);  // noticed without parsing it again
  rows = store.expiryRows(*published.last());
  ASSERT_EQ(rows.size(), 1u);  // still listed, with its past notAfter
  EXPECT_LT(rows[0].second, now.load());
  controller.stop();
}

}  // namespace
}  // namespace portico::controller

namespace portico::controller {
namespace {

// An ExternalName Service: the compile reports its name, the resolver resolves it, and the
// controller recompiles with the addresses; when the record changes after its TTL, again.
TEST(ControllerExternalName, ItsNameIsResolvedAndTheTargetGroupFollowsTheRecord) {
  portico::testing::DnsServer dns;
  dns.set("db.example.test", {"192.0.2.10"}, 1);
  metrics::Registry registry;
  Published published;
  Controller controller(
      {},
      [&](auto s) {
        const std::lock_guard<std::mutex> lock(published.mutex);
        published.snapshots.push_back(std::move(s));
      },
      registry, Debounce{10ms, 100ms});
  dns::ResolverOptions resolver;
  resolver.nameserver = "127.0.0.1";
  resolver.nameserver_port = dns.port();
  resolver.min_ttl = 1s;
  controller.setResolverOptions(resolver);
  controller.start();
  controller.setState(
      stateFromYaml("apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\n"
                    "spec:\n  type: ExternalName\n  externalName: db.example.test\n"
                    "  ports: [{name: http, port: 80, targetPort: 8443}]\n---\n" +
                    kIngress),
      {});
  controller.markSynced();
  const auto endpoints = [&] {
    auto s = published.last();
    std::vector<std::string> out;
    if (s != nullptr && !s->targetGroups().empty()) {
      for (const auto& e : s->targetGroups().front().endpoints) {
        out.push_back(e.address + ":" + std::to_string(e.port));
      }
    }
    return out;
  };
  ASSERT_TRUE(
      eventually([&] { return endpoints() == std::vector<std::string>{"192.0.2.10:8443"}; }));
  dns.set("db.example.test", {"192.0.2.20", "2001:db8::20"}, 1);
  ASSERT_TRUE(eventually([&] {
    return endpoints() == std::vector<std::string>{"192.0.2.20:8443", "2001:db8::20:8443"};
  }));
  // The server fails: the target group keeps its last addresses.
  dns.fail(true);
  const auto asked = dns.queries();
  ASSERT_TRUE(eventually([&] { return dns.queries() >= asked + 2; }));
  EXPECT_EQ(endpoints(), (std::vector<std::string>{"192.0.2.20:8443", "2001:db8::20:8443"}));
  controller.stop();
}

}  // namespace
}  // namespace portico::controller
