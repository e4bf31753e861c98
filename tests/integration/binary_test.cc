// The real `portico` binary on a manifest directory: hot reload through inotify, the admin
// endpoints, SIGTERM draining, flags, and an accept loop that survives running out of files.

#include "process.h"
#include "proxy_fixture.h"
#include "temp_dir.h"
#include "tls/certificate.h"
#include "tls_client.h"

#include <nlohmann/json.hpp>

#include <signal.h>

#include <atomic>
#include <memory>
#include <thread>

namespace portico::testing {
namespace {

using namespace std::chrono_literals;

#if defined(__SANITIZE_ADDRESS__)
constexpr auto kReloadDeadline = 3s;  // sanitizers slow everything down
#else
constexpr auto kReloadDeadline = 1s;  // DESIGN.md: a change reaches traffic within one second
#endif

struct Portico {
  std::unique_ptr<Process> process;
  std::uint16_t http = 0;
  std::uint16_t https = 0;
  std::uint16_t admin = 0;
};

Portico startPortico(const std::string& dir, std::vector<std::string> extra = {},
                     int max_open_files = 0) {
  std::vector<std::string> argv = {toolPath("PORTICO_BIN"),
                                   "--manifests",
                                   dir,
                                   "--bind",
                                   "127.0.0.1",
                                   "--http-port",
                                   "0",
                                   "--https-port",
                                   "0",
                                   "--admin-port",
                                   "0",
                                   "--workers",
                                   "2",
                                   "--leader-elect=false"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  Portico p;
  p.process = std::make_unique<Process>(argv, max_open_files);
  const auto line = p.process->waitForLine(
      [](const std::string& l) { return l.find("\"msg\":\"listening\"") != std::string::npos; },
      10s);
  EXPECT_TRUE(line.has_value()) << "portico did not start";
  if (line) {
    const auto j = nlohmann::json::parse(*line);
    p.http = j["http"];
    p.https = j["https"];
    p.admin = j["admin"];
  }
  return p;
}

std::string nameAt(std::uint16_t port, const std::string& host, const std::string& path) {
  const auto r = get(port, host, path);
  if (r.status != 200) {
    return std::to_string(r.status);
  }
  return nlohmann::json::parse(r.body)["name"];
}

class BinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(a_.start(), 0);
    ASSERT_NE(b_.start(), 0);
    dir_.write("services.yaml",
               loopbackService("svc-a", {a_.port()}) + loopbackService("svc-b", {b_.port()}));
  }
  EchoBackend a_{"a"};
  EchoBackend b_{"b"};
  TempDir dir_;
};

TEST_F(BinaryTest, FollowsTheManifestDirectory) {
  dir_.write("ingress.yaml", simpleIngress("web", "web.test", "/", "svc-a"));
  auto p = startPortico(dir_.path());
  ASSERT_TRUE(eventually([&] { return nameAt(p.http, "web.test", "/") == "a"; }));
  EXPECT_EQ(get(p.admin, "x", "/readyz").status, 200);
  EXPECT_EQ(get(p.admin, "x", "/healthz").status, 200);

  // An edit reaches traffic within a second.
  auto started = std::chrono::steady_clock::now();
  dir_.write("ingress.yaml", simpleIngress("web", "web.test", "/", "svc-b"));
  ASSERT_TRUE(eventually([&] { return nameAt(p.http, "web.test", "/") == "b"; }, 10s));
  EXPECT_LT(std::chrono::steady_clock::now() - started, kReloadDeadline);

  // A file that no longer parses keeps serving what it held, and the error names the file.
  dir_.write("ingress.yaml", "kind: Ingress\nmetadata: [broken\n");
  EXPECT_TRUE(p.process
                  ->waitForLine(
                      [](const std::string& l) {
                        return l.find("manifest problem") != std::string::npos &&
                               l.find("ingress.yaml: invalid YAML") != std::string::npos;
                      },
                      10s)
                  .has_value());
  EXPECT_EQ(nameAt(p.http, "web.test", "/"), "b");

  // An invalid rule is reported with object and field, and the others keep routing.
  dir_.write("ingress.yaml", simpleIngress("web", "web.test", "/", "svc-b") +
                                 simpleIngress("bad", "bad.test", "/", "missing"));
  EXPECT_TRUE(p.process
                  ->waitForLine(
                      [](const std::string& l) {
                        return l.find("configuration problem") != std::string::npos &&
                               l.find("default/bad") != std::string::npos &&
                               l.find("spec.rules[0].http.paths[0].backend.service.name") !=
                                   std::string::npos;
                      },
                      10s)
                  .has_value());
  EXPECT_EQ(nameAt(p.http, "web.test", "/"), "b");

  // A deleted file takes its objects with it.
  started = std::chrono::steady_clock::now();
  dir_.remove("ingress.yaml");
  ASSERT_TRUE(eventually([&] { return get(p.http, "web.test", "/").status == 404; }, 10s));
  EXPECT_LT(std::chrono::steady_clock::now() - started, kReloadDeadline);

  const auto metrics = get(p.admin, "x", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  for (const char* series :
       {"portico_requests_total{namespace=\"\",ingress=\"\",service=\"\",host=\"_\",path=\"\","
        "method=\"GET\",status=\"404\"}",
        "portico_config_generation", "portico_config_compile_duration_seconds_bucket",
        "portico_connections{state=\"active\"}",
        "portico_build_info{version=", "process_resident_memory_bytes"}) {
    EXPECT_NE(metrics.body.find(series), std::string::npos) << series;
  }
  p.process->signal(SIGTERM);
  EXPECT_EQ(p.process->wait(10s), 0);
}

// TLS through the binary: a certificate from a Secret served by SNI, a TLS backend verified
// with a CA Secret, and the certificate's expiry on /metrics.
TEST_F(BinaryTest, ServesSecretsByNameAndReencryptsToVerifiedBackends) {
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  const auto site =
      tls::makeSelfSigned(tls::KeyType::kEcdsaP256, {"site.test"}, now - 60, now + 86400);
  const auto backend_cert =
      tls::makeSelfSigned(tls::KeyType::kEcdsaP256, {"backend.test"}, now - 60, now + 86400);
  EchoBackend secure("secure");
  ASSERT_TRUE(secure.useTls(backend_cert.cert, backend_cert.key));
  ASSERT_NE(secure.start(), 0);
  dir_.write("tls.yaml", tlsSecretYaml("site", site.cert, site.key) +
                             caSecretYaml("backend-ca", backend_cert.cert) +
                             loopbackService("secure", {secure.port()}, "default",
                                             "portico.dev/backend-protocol: HTTPS, "
                                             "portico.dev/backend-tls-server-name: backend.test, "
                                             "portico.dev/backend-tls-ca-secret: backend-ca") +
                             IngressYaml("site")
                                 .spec("  tls:\n  - {hosts: [site.test], secretName: site}\n")
                                 .rule("site.test")
                                 .prefix("/", "secure")
                                 .str());
  auto p = startPortico(dir_.path());
  ASSERT_NE(p.https, 0);
  ASSERT_TRUE(eventually([&] { return get(p.http, "site.test", "/").status == 308; }));
  TlsClientOptions options;
  options.sni = "site.test";
  TlsConnection c(p.https, options);
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c.peerNames(), std::vector<std::string>{"site.test"});
  HttpRequest req;
  req.host = "site.test";
  const HttpResponse r = c.send(req);
  ASSERT_EQ(r.status, 200) << r.error << r.body;
  const auto echo = nlohmann::json::parse(r.body);
  EXPECT_EQ(echo["name"], "secure");
  EXPECT_EQ(echo["tls"]["sni"], "backend.test");

  const auto metrics = get(p.admin, "x", "/metrics").body;
  const std::string expiry =
      "portico_ssl_certificate_expiry_timestamp_seconds{namespace=\"default\",secret=\"site\","
      "host=\"site.test\"} " +
      std::to_string(now + 86400) + "\n";
  EXPECT_NE(metrics.find(expiry), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("portico_upstream_tls_handshakes_total 1\n"), std::string::npos);
  p.process->signal(SIGTERM);
  EXPECT_EQ(p.process->wait(10s), 0);
}

TEST_F(BinaryTest, DefaultBackendServiceFlag) {
  dir_.write("ingress.yaml", simpleIngress("web", "web.test", "/app", "svc-a"));
  auto p = startPortico(dir_.path(), {"--default-backend-service", "default/svc-b"});
  ASSERT_TRUE(eventually([&] { return nameAt(p.http, "web.test", "/app") == "a"; }));
  EXPECT_EQ(nameAt(p.http, "web.test", "/other"), "b");
  EXPECT_EQ(nameAt(p.http, "unknown.test", "/"), "b");
}

TEST_F(BinaryTest, SigtermDrainsInFlightRequestsAndExitsZero) {
  dir_.write("ingress.yaml", simpleIngress("web", "web.test", "/", "svc-a"));
  auto p = startPortico(dir_.path(), {"--shutdown-grace", "10s"});
  ASSERT_TRUE(eventually([&] { return nameAt(p.http, "web.test", "/") == "a"; }));
  std::atomic<int> status{0};
  std::thread slow([&] { status = get(p.http, "web.test", "/?gate=1").status; });
  ASSERT_TRUE(eventually([&] { return a_.heldCount() == 1; }));
  p.process->signal(SIGTERM);
  EXPECT_TRUE(eventually([&] { return get(p.admin, "x", "/readyz").status == 503; }, 5s));
  a_.release();  // in flight while draining: it still finishes
  slow.join();
  EXPECT_EQ(status.load(), 200);
  EXPECT_EQ(p.process->wait(10s), 0);
}

TEST_F(BinaryTest, AcceptLoopSurvivesRunningOutOfFiles) {
  dir_.write("ingress.yaml", simpleIngress("web", "web.test", "/", "svc-a"));
  auto p = startPortico(dir_.path(), {}, 64);
  ASSERT_TRUE(eventually([&] { return nameAt(p.http, "web.test", "/") == "a"; }));
  {
    // More connections than the process has descriptors.
    std::vector<std::unique_ptr<Connection>> hog;
    for (int i = 0; i < 100; ++i) {
      hog.push_back(std::make_unique<Connection>(p.http));
    }
    EXPECT_TRUE(
        p.process
            ->waitForLine(
                [](const std::string& l) { return l.find("accept failed") != std::string::npos; },
                10s)
            .has_value());
  }
  // Once they are gone, it accepts again.
  EXPECT_TRUE(eventually([&] { return nameAt(p.http, "web.test", "/") == "a"; }, 10s));
  const auto metrics = get(p.admin, "x", "/metrics").body;
  EXPECT_EQ(metrics.find("portico_accept_errors_total 0"), std::string::npos);
}

TEST(BinaryFlags, HelpAndErrors) {
  Process help({toolPath("PORTICO_BIN"), "--help"});
  EXPECT_TRUE(help.waitForLine(
                      [](const std::string& l) {
                        return l.find("--default-backend-service") != std::string::npos;
                      },
                      10s)
                  .has_value());
  EXPECT_EQ(help.wait(10s), 0);
  Process bad({toolPath("PORTICO_BIN"), "--http-port", "x"});
  EXPECT_TRUE(bad.waitForLine(
                     [](const std::string& l) {
                       return l == "portico: --http-port=x: expected a port number from 0 to 65535";
                     },
                     10s)
                  .has_value());
  EXPECT_EQ(bad.wait(10s), 2);
  Process missing({toolPath("PORTICO_BIN"), "--manifests", "/nonexistent/dir", "--http-port", "0",
                   "--https-port", "0", "--admin-port", "0"});
  EXPECT_TRUE(missing
                  .waitForLine(
                      [](const std::string& l) {
                        return l.find("/nonexistent/dir: not a directory") != std::string::npos;
                      },
                      10s)
                  .has_value());
  EXPECT_EQ(missing.wait(10s), 2);

  TempDir dir;
  dir.write("kubeconfig",
            "clusters: [{name: c, cluster: {}}]\n"
            "contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n");
  Process bad_kubeconfig({toolPath("PORTICO_BIN"), "--kubeconfig", dir.path() + "/kubeconfig",
                          "--http-port", "0", "--https-port", "0", "--admin-port", "0"});
  EXPECT_TRUE(bad_kubeconfig
                  .waitForLine(
                      [](const std::string& l) {
                        return l.find("clusters[0].cluster.server: required") != std::string::npos;
                      },
                      10s)
                  .has_value());
  EXPECT_EQ(bad_kubeconfig.wait(10s), 2);
}

}  // namespace
}  // namespace portico::testing
