// CertificateStore and SniTable: each Secret parsed once per version, bad ones reported and never
// served, expiry noticed without a parse, and SNI names to contexts (exact, wildcard, default).

#include "tls/store.h"
#include "tls/ticket_keys.h"

#include <gtest/gtest.h>

namespace portico::tls {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;
constexpr std::int64_t kDay = 86400;

model::Secret tlsSecret(const std::string& name, const PemPair& pem, const std::string& rv = "1",
                        const std::string& type = "kubernetes.io/tls") {
  model::Secret s;
  s.meta.namespace_ = "default";
  s.meta.name = name;
  s.meta.resource_version = rv;
  s.type = type;
  s.data = {{"tls.crt", pem.cert}, {"tls.key", pem.key}};
  return s;
}

class StoreTest : public ::testing::Test {
 protected:
  std::int64_t now_ = kNow;
  CertificateStore store_{ServerTlsSettings{}, [this] { return now_; }};
  model::ObjectMap<model::Secret> secrets_;
  void put(const model::Secret& s) { secrets_.upsert(s.meta.key(), s); }
};

TEST_F(StoreTest, EachSecretIsParsedOncePerVersion) {
  const PemPair a = makeSelfSigned(KeyType::kEcdsaP256, {"a.test"}, kNow - kDay, kNow + kDay);
  const PemPair b = makeSelfSigned(KeyType::kRsa, {"b.test"}, kNow - kDay, kNow + kDay);
  put(tlsSecret("a", a));
  put(tlsSecret("b", b));
  auto checks = store_.check(secrets_);
  ASSERT_EQ(checks.size(), 2u);
  EXPECT_TRUE(checks.at("default/a").ok) << checks.at("default/a").reason;
  EXPECT_EQ(checks.at("default/b").names, std::vector<std::string>{"b.test"});
  EXPECT_EQ(store_.parses(), 2u);
  const SslCtxPtr first = store_.context("default/a");
  ASSERT_NE(first, nullptr);

  store_.check(secrets_);  // nothing changed: nothing parsed
  EXPECT_EQ(store_.parses(), 2u);
  EXPECT_EQ(store_.context("default/a"), first);

  // A renewed certificate (cert-manager writes a new version): parsed, a new context.
  const PemPair renewed = makeSelfSigned(KeyType::kEcdsaP256, {"a.test"}, kNow, kNow + 90 * kDay);
  put(tlsSecret("a", renewed, "2"));
  checks = store_.check(secrets_);
  EXPECT_EQ(store_.parses(), 3u);
  EXPECT_TRUE(checks.at("default/a").ok);
  EXPECT_NE(store_.context("default/a"), first);
  ASSERT_NE(first, nullptr);  // a connection still using the old context keeps it alive

  // A Secret that is gone is forgotten.
  secrets_.erase("default/b");
  checks = store_.check(secrets_);
  EXPECT_EQ(checks.count("default/b"), 0u);
  EXPECT_EQ(store_.context("default/b"), nullptr);
}

TEST_F(StoreTest, BadSecretsAreReportedAndNeverServed) {
  const PemPair good = makeSelfSigned(KeyType::kEcdsaP256, {"a.test"}, kNow - kDay, kNow + kDay);
  const PemPair other = makeSelfSigned(KeyType::kEcdsaP256, {"a.test"}, kNow - kDay, kNow + kDay);
  put(tlsSecret("mismatch", PemPair{good.cert, other.key}));
  model::Secret no_key = tlsSecret("nokey", good);
  no_key.data.erase("tls.key");
  put(no_key);
  put(tlsSecret("opaque", good, "1", "Opaque"));
  const auto checks = store_.check(secrets_);
  EXPECT_EQ(checks.size(), 2u);  // the Opaque Secret is not a certificate
  EXPECT_FALSE(checks.at("default/mismatch").ok);
  EXPECT_EQ(checks.at("default/mismatch").reason,
            "tls.key does not match the certificate in tls.crt");
  EXPECT_EQ(checks.at("default/nokey").reason, "tls.key: missing from the Secret");
  EXPECT_EQ(store_.context("default/mismatch"), nullptr);
  EXPECT_EQ(store_.context("default/nokey"), nullptr);
}

TEST_F(StoreTest, ExpiryIsNoticedWithoutAParse) {
  const PemPair pem = makeSelfSigned(KeyType::kEcdsaP256, {"a.test"}, kNow - kDay, kNow + kDay);
  put(tlsSecret("a", pem));
  EXPECT_TRUE(store_.check(secrets_).at("default/a").ok);
  now_ = kNow + 2 * kDay;
  const auto checks = store_.check(secrets_);
  EXPECT_FALSE(checks.at("default/a").ok);
  EXPECT_EQ(checks.at("default/a").reason.rfind("tls.crt: the certificate expired at ", 0), 0u)
      << checks.at("default/a").reason;
  EXPECT_EQ(store_.parses(), 1u);
  EXPECT_EQ(store_.context("default/a"), nullptr);
}

TEST_F(StoreTest, SniNamesSelectTheirSecretsContextElseTheDefault) {
  const PemPair a =
      makeSelfSigned(KeyType::kEcdsaP256, {"a.test", "*.w.test"}, kNow - kDay, kNow + kDay);
  const PemPair other = makeSelfSigned(KeyType::kEcdsaP256, {"b.test"}, kNow - kDay, kNow + kDay);
  put(tlsSecret("a", a));
  put(tlsSecret("bad", PemPair{a.cert, other.key}));
  store_.check(secrets_);
  const PemPair def = makeSelfSigned(KeyType::kEcdsaP256, {"default"}, kNow - kDay, kNow + kDay);
  const SslCtxPtr default_ctx = loadCertificate(def.cert, def.key, kNow, {}).ctx;
  ASSERT_NE(default_ctx, nullptr);
  const snapshot::Snapshot snap({}, {}, {},
                                {{"*.w.test", "default/a"},
                                 {"a.test", "default/a"},
                                 {"b.test", "default/bad"},
                                 {"c.test", ""}});
  const auto table = store_.sniTable(snap, default_ctx);
  ssl_ctx_st* ctx_a = store_.context("default/a").get();
  EXPECT_EQ(table->select("a.test"), ctx_a);
  EXPECT_EQ(table->select("A.Test"), ctx_a);
  EXPECT_EQ(table->select("a.test."), ctx_a);
  EXPECT_EQ(table->select("x.w.test"), ctx_a);
  EXPECT_EQ(table->select("y.x.w.test"), default_ctx.get());
  EXPECT_EQ(table->select("b.test"), default_ctx.get());  // its Secret is bad
  EXPECT_EQ(table->select("c.test"), default_ctx.get());  // no secretName
  EXPECT_EQ(table->select("unknown.test"), default_ctx.get());
  EXPECT_EQ(table->select(""), default_ctx.get());  // no SNI
  EXPECT_EQ(table->select(std::string(300, 'a')), default_ctx.get());
}

// Ticket keys rotate by time: a key encrypts for one period and decrypts for one more.
TEST(TicketKeys, RotateByTimeAndDecryptOnePeriodLonger) {
  auto now = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  TicketKeys keys(std::chrono::hours(12), [&] { return now; });
  const TicketKeys::Key first = keys.current();
  TicketKeys::Key found;
  bool previous = true;
  ASSERT_TRUE(keys.find(first.name.data(), found, previous));
  EXPECT_FALSE(previous);
  EXPECT_EQ(keys.current().aes, first.aes);  // same period: same key

  now += std::chrono::hours(12);
  const TicketKeys::Key second = keys.current();
  EXPECT_NE(second.name, first.name);
  EXPECT_NE(second.aes, first.aes);
  ASSERT_TRUE(keys.find(first.name.data(), found, previous));
  EXPECT_TRUE(previous);  // still decrypts; OpenSSL then issues a fresh ticket
  EXPECT_EQ(found.hmac, first.hmac);

  now += std::chrono::hours(12);
  EXPECT_FALSE(keys.find(first.name.data(), found, previous));  // gone: a full handshake
  EXPECT_TRUE(keys.find(second.name.data(), found, previous));
  EXPECT_EQ(keys.rotations(), 2u);
  const std::array<unsigned char, 16> unknown{};
  EXPECT_FALSE(keys.find(unknown.data(), found, previous));
}

TEST_F(StoreTest, CaSecretsAreCheckedOncePerVersionAndOnlyWhenNamed) {
  const PemPair ca =
      makeCertificate(KeyType::kEcdsaP256, {"ca.test"}, kNow - kDay, kNow + kDay, nullptr, true);
  model::Secret s;
  s.meta.namespace_ = "default";
  s.meta.name = "ca";
  s.meta.resource_version = "1";
  s.type = "Opaque";
  s.data = {{"ca.crt", ca.cert}};
  put(s);
  model::Secret none = s;
  none.meta.name = "none";
  none.data = {{"other", "x"}};
  put(none);

  auto checks = store_.check(secrets_);  // named by nothing: not parsed
  EXPECT_EQ(checks.count("default/ca"), 0u);
  EXPECT_EQ(store_.parses(), 0u);

  checks = store_.check(secrets_, {"default/ca", "default/none", "default/gone"});
  EXPECT_TRUE(checks.at("default/ca").has_ca);
  EXPECT_TRUE(checks.at("default/ca").ca_ok) << checks.at("default/ca").ca_reason;
  EXPECT_FALSE(checks.at("default/none").has_ca);
  EXPECT_EQ(checks.count("default/gone"), 0u);
  EXPECT_EQ(store_.parses(), 1u);
  store_.check(secrets_, {"default/ca"});
  EXPECT_EQ(store_.parses(), 1u);  // same version: not parsed again

  // The contexts a snapshot's TLS target groups are joined to.
  auto snap = std::make_shared<const snapshot::Snapshot>(
      std::vector<snapshot::TargetGroup>{
          {"default/a:443/https", {}, snapshot::BackendTls{"a", "default/ca"}},
          {"default/b:443/https", {}, snapshot::BackendTls{"b", "default/none"}},
          {"default/c:80", {}, std::nullopt}},
      std::vector<snapshot::VirtualHost>{}, snapshot::VirtualHost{});
  auto contexts = store_.caContexts(*snap);
  ASSERT_EQ(contexts.size(), 1u);
  ASSERT_NE(contexts.at("default/ca"), nullptr);

  // A new ca.crt: parsed again; a broken one is reported and its context dropped.
  s.meta.resource_version = "2";
  s.data = {{"ca.crt", "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n"}};
  put(s);
  checks = store_.check(secrets_, {"default/ca"});
  EXPECT_EQ(store_.parses(), 2u);
  EXPECT_FALSE(checks.at("default/ca").ca_ok);
  EXPECT_EQ(checks.at("default/ca").ca_reason, "ca.crt: no PEM certificate in it");
  EXPECT_TRUE(store_.caContexts(*snap).empty());
}

}  // namespace
}  // namespace portico::tls
