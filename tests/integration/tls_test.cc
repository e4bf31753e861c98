// The HTTPS listener (issue 8): certificates from Secrets chosen by SNI, the default
// certificate, bad Secrets beside good ones, rotation without dropping connections, SNI and Host
// deciding different things, and hostile handshakes closed and counted. Certificates are made in
// the test; requests go through the real listener to real echo backends.

#include "proxy_fixture.h"
#include "tls/store.h"
#include "tls_client.h"

#include <nlohmann/json.hpp>

namespace portico::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

tls::PemPair certFor(std::vector<std::string> names, tls::KeyType type = tls::KeyType::kEcdsaP256) {
  return tls::makeSelfSigned(type, names, unixNow() - 3600, unixNow() + 86400);
}

// An Ingress routing `host` to `service`, its certificate from Secret `secret`.
std::string tlsIngress(const std::string& name, const std::string& host, const std::string& secret,
                       const std::string& service) {
  return IngressYaml(name)
      .spec("  tls:\n  - {hosts: [" + host + "], secretName: " + secret + "}\n")
      .rule(host)
      .prefix("/", service)
      .str();
}

HttpRequest requestFor(const std::string& host) {
  HttpRequest r;
  r.host = host;
  r.target = "/tls";
  return r;
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(a_.start(), 0);
    ASSERT_NE(b_.start(), 0);
  }
  void start(proxy::ProxyConfig config = tlsConfig()) {
    proxy_ = std::make_unique<ProxyFixture>(config);
  }
  static proxy::ProxyConfig tlsConfig() {
    proxy::ProxyConfig c = ProxyFixture::defaultConfig();
    c.https_port = 0;
    return c;
  }
  // Compiles `yaml` with the store's Secret checks, publishes it with its SNI table, and
  // returns the diagnostics.
  std::vector<std::string> publish(const std::string& yaml) {
    const model::ClusterState state = stateOfYaml(yaml);
    config::Options options;
    options.secret_checks = store_.check(state.secrets);
    options.tls.redirect_port = proxy_->server().httpsPort();
    auto result = config::compile(state, options);
    auto snap = std::make_shared<const snapshot::Snapshot>(std::move(result.snapshot));
    proxy_->publish(snap, store_.sniTable(*snap, proxy_->server().generatedDefaultContext()));
    std::vector<std::string> out;
    for (const auto& d : result.diagnostics) {
      out.push_back(d.toString());
    }
    return out;
  }
  std::string services() const {
    return loopbackService("svc-a", {a_.port()}) + loopbackService("svc-b", {b_.port()});
  }
  TlsConnection connect(const std::string& sni, TlsClientOptions options = {}) {
    options.sni = sni;
    return TlsConnection(proxy_->server().httpsPort(), options);
  }

  EchoBackend a_{"a"};
  EchoBackend b_{"b"};
  tls::CertificateStore store_{tls::ServerTlsSettings{}};
  std::unique_ptr<ProxyFixture> proxy_;
};

TEST_F(TlsTest, SniSelectsAmongHostsAndAWildcardAndTheRequestIsProxied) {
  start();
  const auto ca = certFor({"a.test"}, tls::KeyType::kRsa);
  const auto cb = certFor({"b.test"}, tls::KeyType::kEcdsaP384);
  const auto cc = certFor({"c.test"}, tls::KeyType::kEd25519);
  const auto cw = certFor({"*.w.test"});
  const std::string tls_spec =
      "  tls:\n  - {hosts: [a.test], secretName: sa}\n  - {hosts: [b.test], secretName: sb}\n"
      "  - {hosts: [c.test], secretName: sc}\n  - {hosts: [\"*.w.test\"], secretName: sw}\n";
  EXPECT_EQ(publish(services() + tlsSecretYaml("sa", ca.cert, ca.key) +
                    tlsSecretYaml("sb", cb.cert, cb.key) + tlsSecretYaml("sc", cc.cert, cc.key) +
                    tlsSecretYaml("sw", cw.cert, cw.key) +
                    IngressYaml("ing").spec(tls_spec).rule("a.test").prefix("/", "svc-a").str() +
                    simpleIngress("ing-b", "b.test", "/", "svc-b") +
                    simpleIngress("ing-w", "x.w.test", "/", "svc-b")),
            std::vector<std::string>{});
  struct Row {
    std::string sni;
    std::vector<std::string> names;
    std::string backend;
  };
  for (const Row& row : {Row{"a.test", {"a.test"}, "a"}, Row{"b.test", {"b.test"}, "b"},
                         Row{"C.TEST", {"c.test"}, "b"}, Row{"x.w.test", {"*.w.test"}, "b"}}) {
    SCOPED_TRACE(row.sni);
    TlsConnection c = connect(row.sni);
    ASSERT_TRUE(c.ok()) << c.error();
    EXPECT_EQ(c.peerNames(), row.names);
    EXPECT_EQ(c.alpn(), "http/1.1");
    const std::string host = row.sni == "C.TEST" ? "b.test" : row.sni;
    const HttpResponse r = c.send(requestFor(host));
    ASSERT_EQ(r.status, 200) << r.error << r.body;
    const json echo = json::parse(r.body);
    EXPECT_EQ(echo["name"], row.backend);
    EXPECT_EQ(echo["headers"]["X-Forwarded-Proto"][0], "https");
    EXPECT_EQ(echo["headers"]["X-Forwarded-Port"][0], std::to_string(proxy_->server().httpsPort()));
  }
  // Keep-alive over TLS: a second request on the same connection.
  TlsConnection c = connect("a.test");
  EXPECT_EQ(c.send(requestFor("a.test")).status, 200);
  EXPECT_EQ(c.send(requestFor("a.test")).status, 200);
  EXPECT_GE(metricValue(proxy_->registry(), "portico_tls_handshakes_total"), 5u);
}

TEST_F(TlsTest, NoSniOrAnUnknownNameGetsTheDefaultCertificate) {
  start();
  const auto ca = certFor({"a.test"});
  publish(services() + tlsSecretYaml("sa", ca.cert, ca.key) +
          tlsIngress("ing", "a.test", "sa", "svc-a"));
  for (const std::string sni : {"", "unknown.test"}) {
    TlsConnection c = connect(sni);
    ASSERT_TRUE(c.ok()) << c.error();
    EXPECT_EQ(c.peerNames(), std::vector<std::string>{"portico.invalid"}) << sni;
    EXPECT_EQ(c.send(requestFor("a.test")).status, 200);  // Host still routes
  }
}

TEST_F(TlsTest, ABadSecretFallsBackToTheDefaultAndOthersKeepTheirs) {
  start();
  const auto ca = certFor({"a.test"});
  const auto cd = certFor({"d.test"});
  const auto other = certFor({"d.test"});
  const auto diags = publish(services() + tlsSecretYaml("sa", ca.cert, ca.key) +
                             tlsSecretYaml("sd", cd.cert, other.key) +
                             IngressYaml("ing")
                                 .spec("  tls:\n  - {hosts: [a.test], secretName: sa}\n"
                                       "  - {hosts: [d.test], secretName: sd}\n")
                                 .rule("a.test")
                                 .prefix("/", "svc-a")
                                 .rule("d.test")
                                 .prefix("/", "svc-b")
                                 .str());
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_NE(diags[0].find("Secret default/sd: tls.key does not match"), std::string::npos);
  EXPECT_EQ(connect("a.test").peerNames(), std::vector<std::string>{"a.test"});
  TlsConnection d = connect("d.test");
  ASSERT_TRUE(d.ok()) << d.error();
  EXPECT_EQ(d.peerNames(), std::vector<std::string>{"portico.invalid"});
  EXPECT_EQ(d.send(requestFor("d.test")).status, 200);
}

TEST_F(TlsTest, ARenewedSecretServesNewHandshakesAndOpenConnectionsCarryOn) {
  start();
  const auto first = certFor({"a.test"});
  const std::string ingress = tlsIngress("ing", "a.test", "sa", "svc-a");
  publish(services() + tlsSecretYaml("sa", first.cert, first.key) + ingress);
  TlsConnection old = connect("a.test");
  ASSERT_TRUE(old.ok()) << old.error();
  ASSERT_EQ(old.send(requestFor("a.test")).status, 200);
  const std::string old_pem = old.peerPem();

  const auto renewed = certFor({"a.test"});
  publish(services() + tlsSecretYaml("sa", renewed.cert, renewed.key) + ingress);
  TlsConnection fresh = connect("a.test");
  ASSERT_TRUE(fresh.ok()) << fresh.error();
  EXPECT_NE(fresh.peerPem(), old_pem);
  EXPECT_EQ(fresh.peerPem(), renewed.cert);
  EXPECT_EQ(fresh.send(requestFor("a.test")).status, 200);
  // The connection made before the renewal still works: nothing was closed.
  EXPECT_EQ(old.send(requestFor("a.test")).status, 200);
}

TEST_F(TlsTest, SniPicksTheCertificateAndHostPicksTheRoute) {
  start();
  const auto ca = certFor({"a.test"});
  publish(services() + tlsSecretYaml("sa", ca.cert, ca.key) +
          tlsIngress("ing", "a.test", "sa", "svc-a") +
          simpleIngress("ing-b", "b.test", "/", "svc-b"));
  TlsConnection c = connect("a.test");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c.peerNames(), std::vector<std::string>{"a.test"});
  const HttpResponse r = c.send(requestFor("b.test"));
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(json::parse(r.body)["name"], "b");
}

// Hosts with TLS redirect plain HTTP to HTTPS (308, the URL kept) and send HSTS over HTTPS only;
// portico.dev/ssl-redirect: "false" keeps HTTP serving; hosts without TLS are untouched.
TEST_F(TlsTest, RedirectsAndHstsFollowTheHostsTls) {
  start();
  const auto ca = certFor({"a.test", "n.test"});
  publish(services() + tlsSecretYaml("sa", ca.cert, ca.key) +
          tlsIngress("ing", "a.test", "sa", "svc-a") +
          IngressYaml("noredirect")
              .annotation("portico.dev/ssl-redirect", "false")
              .spec("  tls:\n  - {hosts: [n.test], secretName: sa}\n")
              .rule("n.test")
              .prefix("/", "svc-a")
              .str() +
          simpleIngress("plain", "p.test", "/", "svc-b"));
  const std::string port = std::to_string(proxy_->server().httpsPort());

  HttpRequest post;
  post.method = "POST";
  post.host = "a.test:8080";
  post.target = "/tls/x?y=1&z";
  post.body = "body";
  const HttpResponse redirected = request(proxy_->port(), post);
  EXPECT_EQ(redirected.status, 308);
  EXPECT_EQ(redirected.header("location"), "https://a.test:" + port + "/tls/x?y=1&z");
  EXPECT_EQ(redirected.header("strict-transport-security"), "");  // never over plain HTTP
  EXPECT_EQ(a_.requestCount(), 0u);

  const HttpResponse plain = get(proxy_->port(), "p.test", "/");
  EXPECT_EQ(plain.status, 200);
  EXPECT_EQ(plain.header("strict-transport-security"), "");
  EXPECT_EQ(get(proxy_->port(), "n.test", "/").status, 200);

  TlsConnection c = connect("a.test");
  ASSERT_TRUE(c.ok()) << c.error();
  const HttpResponse secure = c.send(requestFor("a.test"));
  EXPECT_EQ(secure.status, 200);
  EXPECT_EQ(secure.header("strict-transport-security"), "max-age=31536000; includeSubDomains");
  EXPECT_EQ(c.send(requestFor("n.test")).header("strict-transport-security"),
            "max-age=31536000; includeSubDomains");
  EXPECT_EQ(c.send(requestFor("p.test")).header("strict-transport-security"), "");
}

// Tickets resume sessions on any worker; after one rotation the previous key still resumes (and
// the client gets a new ticket), after two the old ticket gives a full handshake.
TEST_F(TlsTest, SessionTicketsResumeAndTheirKeysRotate) {
  start();
  publish(services() + simpleIngress("ing", "a.test", "/", "svc-a"));
  for (const std::string version : {"1.2", "1.3"}) {
    SCOPED_TRACE(version);
    TlsClientOptions options;
    options.max_version = version;
    TlsConnection first = connect("a.test", options);
    ASSERT_TRUE(first.ok()) << first.error();
    ASSERT_EQ(first.send(requestFor("a.test")).status, 200);  // TLS 1.3 tickets come after
    const auto ticket = first.session();
    ASSERT_NE(ticket, nullptr);
    options.resume = ticket;
    for (int i = 0; i < 3; ++i) {  // whichever worker takes the connection
      TlsConnection again = connect("a.test", options);
      ASSERT_TRUE(again.ok()) << again.error();
      EXPECT_TRUE(again.reused());
      EXPECT_EQ(again.send(requestFor("a.test")).status, 200);
    }
    proxy_->server().rotateTicketKeys();
    TlsConnection after_one = connect("a.test", options);
    ASSERT_TRUE(after_one.ok()) << after_one.error();
    EXPECT_TRUE(after_one.reused());
    proxy_->server().rotateTicketKeys();
    TlsConnection after_two = connect("a.test", options);
    ASSERT_TRUE(after_two.ok()) << after_two.error();
    EXPECT_FALSE(after_two.reused());
    EXPECT_EQ(after_two.send(requestFor("a.test")).status, 200);
  }
  // The server counts a handshake when it has read the client's Finished, which a client that
  // sent nothing after it (after_one) may not have made it read yet: the count is waited for.
  EXPECT_TRUE(eventually([&] {
    return metricValue(proxy_->registry(), "portico_tls_resumed_handshakes_total") == 8u;
  })) << metricValue(proxy_->registry(), "portico_tls_resumed_handshakes_total");
}

TEST_F(TlsTest, WithoutSessionTicketsEveryHandshakeIsAFullOne) {
  proxy::ProxyConfig config = tlsConfig();
  config.tls.session_tickets = false;
  start(config);
  publish(services() + simpleIngress("ing", "a.test", "/", "svc-a"));
  for (const std::string version : {"1.2", "1.3"}) {
    SCOPED_TRACE(version);
    TlsClientOptions options;
    options.max_version = version;
    TlsConnection first = connect("a.test", options);
    ASSERT_TRUE(first.ok()) << first.error();
    ASSERT_EQ(first.send(requestFor("a.test")).status, 200);
    options.resume = first.session();
    TlsConnection again = connect("a.test", options);
    ASSERT_TRUE(again.ok()) << again.error();
    EXPECT_FALSE(again.reused());
    EXPECT_EQ(again.send(requestFor("a.test")).status, 200);
  }
  EXPECT_EQ(metricValue(proxy_->registry(), "portico_tls_resumed_handshakes_total"), 0u);
  EXPECT_EQ(metricValue(proxy_->registry(), "portico_tls_handshakes_total"), 4u);
}

TEST_F(TlsTest, GarbageAndStalledHandshakesAreClosedAndCounted) {
  proxy::ProxyConfig config = tlsConfig();
  config.client_header_timeout = 300ms;
  start(config);
  publish(services() + simpleIngress("ing", "a.test", "/", "svc-a"));
  const auto& reg = proxy_->registry();
  {  // plain HTTP on the HTTPS port
    Connection c(proxy_->server().httpsPort());
    ASSERT_TRUE(c.writeRaw("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"));
    EXPECT_TRUE(c.closedByPeer());
  }
  EXPECT_TRUE(eventually([&] {
    return metricValue(reg, "portico_tls_handshake_errors_total{reason=\"not_tls\"}") == 1;
  }));
  {  // random bytes
    Connection c(proxy_->server().httpsPort());
    ASSERT_TRUE(c.writeRaw(std::string("\x16\x03\x01\xff\xff garbage garbage", 21)));
    EXPECT_TRUE(c.closedByPeer());
  }
  {  // a client that connects and says nothing: closed at the header timeout
    Connection c(proxy_->server().httpsPort());
    const auto started = std::chrono::steady_clock::now();
    EXPECT_TRUE(c.closedByPeer(5s));
    EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
  }
  {  // a client that stalls mid-ClientHello: the record promises 512 bytes, 7 come
    Connection c(proxy_->server().httpsPort());
    ASSERT_TRUE(c.writeRaw(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)));
    const auto started = std::chrono::steady_clock::now();
    EXPECT_TRUE(c.closedByPeer(5s));
    EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
  }
  EXPECT_TRUE(eventually([&] {
    return metricValue(reg, "portico_tls_handshake_errors_total{reason=\"timeout\"}") == 2;
  }));
  // The listener still serves a proper client.
  TlsConnection ok = connect("a.test");
  ASSERT_TRUE(ok.ok()) << ok.error();
  EXPECT_EQ(ok.send(requestFor("a.test")).status, 200);
}

// A connection portico ends (Connection: close, or draining) ends with close_notify, for TLS
// 1.2 and 1.3 alike: the client can tell the end of the stream from a truncation.
TEST_F(TlsTest, PorticoEndsConnectionsWithCloseNotify) {
  start();
  publish(services() + simpleIngress("ing", "a.test", "/", "svc-a"));
  for (const char* version : {"1.2", "1.3"}) {
    SCOPED_TRACE(version);
    TlsClientOptions options;
    options.max_version = version;
    TlsConnection c = connect("a.test", options);
    ASSERT_TRUE(c.ok()) << c.error();
    HttpRequest req = requestFor("a.test");
    req.headers.emplace_back("Connection", "close");
    const HttpResponse r = c.send(req);
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(c.readEnd(), "close_notify");
  }
}

TEST_F(TlsTest, MinimumVersion13RefusesATls12Client) {
  proxy::ProxyConfig config = tlsConfig();
  config.tls.min_version = "1.3";
  start(config);
  publish(services() + simpleIngress("ing", "a.test", "/", "svc-a"));
  TlsClientOptions old;
  old.max_version = "1.2";
  TlsConnection refused = connect("a.test", old);
  EXPECT_FALSE(refused.ok());
  EXPECT_TRUE(eventually([&] {
    return metricValue(proxy_->registry(),
                       "portico_tls_handshake_errors_total{reason=\"protocol\"}") == 1;
  }));
  TlsConnection fine = connect("a.test");
  ASSERT_TRUE(fine.ok()) << fine.error();
  EXPECT_EQ(fine.protocol(), "TLSv1.3");
}

}  // namespace
}  // namespace portico::testing
