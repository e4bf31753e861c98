// Re-encryption (issue 8): portico speaking TLS to TLS-only backends, chosen by
// portico.dev/backend-protocol on the Service or the Ingress; SNI from the Service's DNS name or
// backend-tls-server-name; verification with backend-tls-ca-secret (a self-signed backend, and
// a CA with an intermediate); pooled TLS connections reused; and every way it can go wrong
// (unverifiable certificate, wrong name, missing CA Secret, an old protocol, a plain backend,
// a stalled handshake) is an error response, counted, never a hang or plain text.

#include "proxy/net.h"
#include "proxy_fixture.h"
#include "scripted_upstream.h"
#include "tls/store.h"

#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

namespace portico::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

tls::PemPair certFor(std::vector<std::string> names, const tls::PemPair* issuer = nullptr,
                     bool ca = false) {
  return tls::makeCertificate(tls::KeyType::kEcdsaP256, names, unixNow() - 3600, unixNow() + 86400,
                              issuer, ca);
}

constexpr char kHttps[] = "portico.dev/backend-protocol: HTTPS";

class BackendTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_cert_ = certFor({"backend.test"});
    ASSERT_TRUE(secure_.useTls(backend_cert_.cert, backend_cert_.key));
    ASSERT_NE(secure_.start(), 0);
    ASSERT_NE(plain_.start(), 0);
    proxy_ = std::make_unique<ProxyFixture>(config());
  }
  virtual proxy::ProxyConfig config() { return ProxyFixture::defaultConfig(); }

  // Compiles `yaml` with the store's checks (TLS and CA Secrets), publishes it with the CA
  // contexts, and returns the diagnostics.
  std::vector<std::string> publish(const std::string& yaml) {
    const model::ClusterState state = stateOfYaml(yaml);
    config::Options options;
    options.secret_checks = store_.check(state.secrets, config::caSecretsNamed(state));
    auto result = config::compile(state, options);
    auto snap = std::make_shared<const snapshot::Snapshot>(std::move(result.snapshot));
    proxy_->publish(snap, nullptr, store_.caContexts(*snap));
    std::vector<std::string> out;
    for (const auto& d : result.diagnostics) {
      out.push_back(d.toString());
    }
    return out;
  }
  HttpResponse get(const std::string& host, const std::string& target = "/") {
    return testing::get(proxy_->port(), host, target);
  }
  std::uint64_t metric(const std::string& series) {
    return metricValue(proxy_->registry(), series);
  }

  tls::PemPair backend_cert_;
  EchoBackend secure_{"secure"};
  EchoBackend plain_{"plain"};
  tls::CertificateStore store_{tls::ServerTlsSettings{}};
  std::unique_ptr<ProxyFixture> proxy_;
};

TEST_F(BackendTlsTest, ServiceAnnotationSpeaksTlsWithTheServiceNameAndReusesConnections) {
  EXPECT_EQ(publish(loopbackService("svc", {secure_.port()}, "default", kHttps) +
                    simpleIngress("ing", "a.test", "/", "svc")),
            std::vector<std::string>{});
  Connection client(proxy_->port());  // one client connection: one worker, one pool
  HttpRequest req;
  req.host = "a.test";
  req.target = "/first";
  for (int i = 0; i < 10; ++i) {
    const HttpResponse r = client.send(req);
    ASSERT_EQ(r.status, 200) << r.error << r.body;
    const json echo = json::parse(r.body);
    EXPECT_EQ(echo["name"], "secure");
    EXPECT_EQ(echo["tls"]["sni"], "svc.default.svc");
    EXPECT_EQ(echo["tls"]["version"], "TLSv1.3");
    EXPECT_EQ(echo["path"], "/first");
    EXPECT_EQ(echo["headers"]["X-Forwarded-Proto"][0], "http");  // the client's side
  }
  // Ten requests, one TLS connection: the pooled one was reused nine times.
  EXPECT_EQ(secure_.connectionCount(), 1u);
  EXPECT_EQ(metric("portico_upstream_tls_handshakes_total"), 1u);
  EXPECT_EQ(metric("portico_upstream_connection_reuses_total"), 9u);

  // A body goes up and a streamed, chunked answer comes down over TLS.
  req.method = "POST";
  req.target = "/?bytes=300000&chunked=1";
  req.body = std::string(200000, 'b');
  const HttpResponse big = client.send(req);
  EXPECT_EQ(big.status, 200) << big.error;
  EXPECT_EQ(big.body.size(), 300000u);
}

TEST_F(BackendTlsTest, IngressAnnotationAndServerNameApplyAndTheServiceWins) {
  EXPECT_EQ(publish(loopbackService("svc", {secure_.port()}) +
                    IngressYaml("ing")
                        .annotation("portico.dev/backend-protocol", "HTTPS")
                        .annotation("portico.dev/backend-tls-server-name", "Backend.Test")
                        .rule("a.test")
                        .prefix("/", "svc")
                        .str()),
            std::vector<std::string>{});
  HttpResponse r = get("a.test");
  ASSERT_EQ(r.status, 200) << r.error << r.body;
  EXPECT_EQ(json::parse(r.body)["tls"]["sni"], "backend.test");

  // The Service says HTTP: it wins, and a TLS-only backend cannot answer plain HTTP.
  publish(
      loopbackService("svc", {secure_.port()}, "default", "portico.dev/backend-protocol: HTTP") +
      IngressYaml("ing")
          .annotation("portico.dev/backend-protocol", "HTTPS")
          .rule("a.test")
          .prefix("/", "svc")
          .str());
  EXPECT_EQ(get("a.test").status, 502);
}

TEST_F(BackendTlsTest, TheCaSecretVerifiesTheBackendAndItsName) {
  const std::string ing = simpleIngress("ing", "a.test", "/", "svc");
  const auto service = [&](const std::string& name, const std::string& ca) {
    return loopbackService("svc", {secure_.port()}, "default",
                           std::string(kHttps) + ", portico.dev/backend-tls-server-name: " + name +
                               ", portico.dev/backend-tls-ca-secret: " + ca);
  };
  // The backend's own certificate as the CA: verified.
  EXPECT_EQ(publish(service("backend.test", "ca") + caSecretYaml("ca", backend_cert_.cert) + ing),
            std::vector<std::string>{});
  HttpResponse r = get("a.test");
  ASSERT_EQ(r.status, 200) << r.error << r.body;
  EXPECT_EQ(json::parse(r.body)["tls"]["sni"], "backend.test");

  // Another CA: the backend cannot be verified. 502, counted; nothing reached it (the
  // connection the first CA verified stays in the pool, unused: its context is not this one).
  const std::uint64_t requests = secure_.requestCount();
  const auto other = certFor({"backend.test"});
  EXPECT_EQ(publish(service("backend.test", "ca") + caSecretYaml("ca", other.cert) + ing),
            std::vector<std::string>{});
  EXPECT_EQ(get("a.test").status, 502);
  EXPECT_GE(metric("portico_upstream_tls_handshake_errors_total"), 1u);

  // The right CA but a name the certificate does not carry: refused too.
  publish(service("other.test", "ca") + caSecretYaml("ca", backend_cert_.cert) + ing);
  EXPECT_EQ(get("a.test").status, 502);

  // A CA Secret that is missing, or has no usable ca.crt: a diagnostic, and still never an
  // unverified connection.
  auto diags = publish(service("backend.test", "gone") + ing);
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_NE(diags[0].find("Secret default/gone not found"), std::string::npos) << diags[0];
  EXPECT_EQ(get("a.test").status, 502);
  diags = publish(service("backend.test", "ca") + caSecretYaml("ca", "not a certificate") + ing);
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_NE(diags[0].find("ca.crt: no PEM certificate"), std::string::npos) << diags[0];
  EXPECT_EQ(get("a.test").status, 502);
  EXPECT_EQ(secure_.requestCount(), requests);

  // Fixed: verified again.
  publish(service("backend.test", "ca") + caSecretYaml("ca", backend_cert_.cert) + ing);
  EXPECT_EQ(get("a.test").status, 200);
}

TEST_F(BackendTlsTest, ACaChainWithAnIntermediateVerifies) {
  const auto root = certFor({"root.ca.test"}, nullptr, true);
  const auto intermediate = certFor({"intermediate.ca.test"}, &root, true);
  const auto leaf = certFor({"chain.test"}, &intermediate);
  EchoBackend chained("chained");
  // The backend serves its leaf and the intermediate; the CA Secret holds the root only.
  ASSERT_TRUE(chained.useTls(leaf.cert + intermediate.cert, leaf.key));
  ASSERT_NE(chained.start(), 0);
  EXPECT_EQ(publish(loopbackService("svc", {chained.port()}, "default",
                                    std::string(kHttps) +
                                        ", portico.dev/backend-tls-server-name: chain.test"
                                        ", portico.dev/backend-tls-ca-secret: root") +
                    caSecretYaml("root", root.cert) + simpleIngress("ing", "a.test", "/", "svc")),
            std::vector<std::string>{});
  const HttpResponse r = get("a.test");
  ASSERT_EQ(r.status, 200) << r.error << r.body;
  EXPECT_EQ(json::parse(r.body)["name"], "chained");
}

TEST_F(BackendTlsTest, OldProtocolsAndPlainBackendsAreRefused) {
  EchoBackend old("old");
  const auto cert = certFor({"old.test"});
  ASSERT_TRUE(old.useTls(cert.cert, cert.key, "1.0"));
  ASSERT_NE(old.start(), 0);
  publish(loopbackService("old", {old.port()}, "default", kHttps) +
          loopbackService("plain", {plain_.port()}, "default", kHttps) +
          simpleIngress("i-old", "old.test", "/", "old") +
          simpleIngress("i-plain", "plain.test", "/", "plain"));
  EXPECT_EQ(get("old.test").status, 502);    // TLS 1.1 at most: portico asks for 1.2 or 1.3
  EXPECT_EQ(get("plain.test").status, 502);  // a ClientHello to an HTTP server: no TLS answer
  EXPECT_EQ(old.requestCount(), 0u);
}

TEST_F(BackendTlsTest, WebsocketIsTunnelledOverTls) {
  publish(loopbackService("svc", {secure_.port()}, "default", kHttps) +
          simpleIngress("ing", "a.test", "/", "svc"));
  using namespace portico::proxy;  // NOLINT: net/beast aliases
  namespace websocket = beast::websocket;
  net::io_context ioc;
  websocket::stream<tcp::socket> ws(ioc);
  ws.next_layer().connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), proxy_->port()));
  ws.handshake("a.test", "/ws");
  for (const std::string& msg : std::vector<std::string>{"hello", std::string(100000, 'w')}) {
    ws.write(net::buffer(msg));
    beast::flat_buffer buf;
    ws.read(buf);
    EXPECT_EQ(beast::buffers_to_string(buf.data()), msg);
  }
  ws.close(websocket::close_code::normal);
}

class BackendTlsStallTest : public BackendTlsTest {
 protected:
  proxy::ProxyConfig config() override {
    proxy::ProxyConfig c = ProxyFixture::defaultConfig();
    c.upstream_connect_timeout = 300ms;
    return c;
  }
};

TEST_F(BackendTlsStallTest, AHandshakeThatNeverEndsTimesOutWithinTheConnectTimeout) {
  // Accepts, reads the ClientHello, and never answers it.
  ScriptedUpstream silent([](const std::string&) { return ScriptedUpstream::Reply{}; });
  const std::uint16_t port = silent.start();
  ASSERT_NE(port, 0);
  publish(loopbackService("svc", {port}, "default", kHttps) +
          simpleIngress("ing", "a.test", "/", "svc"));
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(get("a.test").status, 504);
  // Three attempts (the retries go to the only endpoint again), each cut at 300 ms.
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
  EXPECT_TRUE(silent.heads().empty());
}

}  // namespace
}  // namespace portico::testing
