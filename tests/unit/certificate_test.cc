// Certificates from Secrets: every key type portico serves, and every way a Secret can be wrong,
// each with a reason that names what to fix. Certificates are made here, with the OpenSSL API.

#include "tls/certificate.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <gtest/gtest.h>

namespace portico::tls {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;  // 2027-01-15
constexpr std::int64_t kDay = 86400;

PemPair valid(KeyType type, const std::vector<std::string>& names) {
  return makeSelfSigned(type, names, kNow - kDay, kNow + 90 * kDay);
}

TEST(Certificate, EveryServedKeyTypeLoads) {
  for (const KeyType type :
       {KeyType::kRsa, KeyType::kEcdsaP256, KeyType::kEcdsaP384, KeyType::kEd25519}) {
    SCOPED_TRACE(std::string(keyTypeName(type)));
    const PemPair pem = valid(type, {"a.test", "*.b.test"});
    const LoadedCertificate loaded = loadCertificate(pem.cert, pem.key, kNow, {});
    EXPECT_TRUE(loaded.check.ok) << loaded.check.reason;
    EXPECT_NE(loaded.ctx, nullptr);
    EXPECT_EQ(loaded.check.key_type, type);
    EXPECT_EQ(loaded.check.names, (std::vector<std::string>{"a.test", "*.b.test"}));
    EXPECT_EQ(loaded.check.not_before, kNow - kDay);
    EXPECT_EQ(loaded.check.not_after, kNow + 90 * kDay);
    EXPECT_EQ(loaded.check.chain_length, 1u);
  }
}

TEST(Certificate, TheChainFollowsTheLeaf) {
  const PemPair leaf = valid(KeyType::kEcdsaP256, {"a.test"});
  const PemPair other = valid(KeyType::kEcdsaP256, {"ca.test"});
  const LoadedCertificate loaded = loadCertificate(leaf.cert + other.cert, leaf.key, kNow, {});
  ASSERT_TRUE(loaded.check.ok) << loaded.check.reason;
  EXPECT_EQ(loaded.check.chain_length, 2u);
  STACK_OF(X509)* chain = nullptr;
  ASSERT_EQ(SSL_CTX_get0_chain_certs(loaded.ctx.get(), &chain), 1);
  EXPECT_EQ(sk_X509_num(chain), 1);
}

TEST(Certificate, NamesFallBackToTheCommonNameAndAreLowerCase) {
  const PemPair pem = valid(KeyType::kEcdsaP256, {});  // CN "portico", no SAN
  EXPECT_EQ(loadCertificate(pem.cert, pem.key, kNow, {}).check.names,
            (std::vector<std::string>{"portico"}));
  const PemPair upper = valid(KeyType::kEcdsaP256, {"WWW.A.Test"});
  EXPECT_EQ(loadCertificate(upper.cert, upper.key, kNow, {}).check.names,
            (std::vector<std::string>{"www.a.test"}));
}

// Every wrong Secret: a reason naming tls.crt or tls.key, and no context.
TEST(Certificate, BadSecretsSayWhatIsWrong) {
  const PemPair good = valid(KeyType::kEcdsaP256, {"a.test"});
  const PemPair other = valid(KeyType::kEcdsaP256, {"a.test"});
  const PemPair expired =
      makeSelfSigned(KeyType::kEcdsaP256, {"a.test"}, kNow - 90 * kDay, kNow - kDay);
  const PemPair future =
      makeSelfSigned(KeyType::kEcdsaP256, {"a.test"}, kNow + kDay, kNow + 90 * kDay);
  std::string truncated = good.cert.substr(0, good.cert.size() / 2);
  std::string garbled = good.cert;
  garbled[garbled.size() / 2] = '!';
  struct Row {
    std::string cert;
    std::string key;
    std::string reason;  // a prefix of the expected reason
  };
  const Row rows[] = {
      {"", good.key, "tls.crt: no PEM certificate"},
      {"not a certificate", good.key, "tls.crt: no PEM certificate"},
      {truncated, good.key, "tls.crt: no PEM certificate"},
      {garbled, good.key, "tls.crt: no PEM certificate"},
      {good.key, good.key, "tls.crt: no PEM certificate"},
      {good.cert, "", "tls.key: no PEM private key"},
      {good.cert, good.cert, "tls.key: no PEM private key"},
      {good.cert, good.key.substr(0, 40), "tls.key: no PEM private key"},
      {good.cert, other.key, "tls.key does not match the certificate"},
      {expired.cert, expired.key, "tls.crt: the certificate expired at "},
      {future.cert, future.key, "tls.crt: the certificate is not valid before "},
  };
  for (const Row& row : rows) {
    const LoadedCertificate loaded = loadCertificate(row.cert, row.key, kNow, {});
    EXPECT_FALSE(loaded.check.ok) << row.reason;
    EXPECT_EQ(loaded.ctx, nullptr) << row.reason;
    EXPECT_EQ(loaded.check.reason.substr(0, row.reason.size()), row.reason) << loaded.check.reason;
  }
}

TEST(Certificate, WeakOrUnsupportedKeysAreRefused) {
  // RSA 1024 and an EC key on a curve we do not serve, made here.
  EVP_PKEY* rsa = EVP_RSA_gen(1024);
  EVP_PKEY* k256 = EVP_EC_gen("secp256k1");
  ASSERT_NE(rsa, nullptr);
  ASSERT_NE(k256, nullptr);
  const PemPair cert = valid(KeyType::kEcdsaP256, {"a.test"});
  for (auto [key, reason] : {std::pair{rsa, "tls.key: an RSA key of 1024 bits"},
                             std::pair{k256, "tls.key: EC curve secp256k1 is not supported"}}) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    const std::string pem(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    const LoadedCertificate loaded = loadCertificate(cert.cert, pem, kNow, {});
    EXPECT_FALSE(loaded.check.ok);
    EXPECT_EQ(loaded.check.reason.substr(0, std::string_view(reason).size()), reason)
        << loaded.check.reason;
  }
  EVP_PKEY_free(rsa);
  EVP_PKEY_free(k256);
}

TEST(Certificate, SettingsAreChecked) {
  EXPECT_EQ(checkSettings({}), "");
  ServerTlsSettings tls13;
  tls13.min_version = "1.3";
  EXPECT_EQ(checkSettings(tls13), "");
  ServerTlsSettings old;
  old.min_version = "1.0";
  EXPECT_NE(checkSettings(old).find("is not 1.2 or 1.3"), std::string::npos);
  ServerTlsSettings ciphers;
  ciphers.ciphers = "NOT-A-CIPHER";
  EXPECT_NE(checkSettings(ciphers).find("has no cipher OpenSSL knows"), std::string::npos);
  // A certificate loaded with refused settings says so instead of serving.
  const PemPair pem = valid(KeyType::kEcdsaP256, {"a.test"});
  EXPECT_FALSE(loadCertificate(pem.cert, pem.key, kNow, old).check.ok);
}

// Backend CA bundles (ca.crt of backend-tls-ca-secret): every certificate in it must parse, and
// the reason names ca.crt.
TEST(Certificate, CaBundlesLoadWholeOrNotAtAll) {
  const PemPair root =
      makeCertificate(KeyType::kEcdsaP256, {"root.test"}, kNow - kDay, kNow + kDay, nullptr, true);
  const PemPair other = valid(KeyType::kRsa, {"other.test"});
  LoadedCa ca = loadCaBundle(root.cert + other.cert);
  EXPECT_TRUE(ca.ok) << ca.reason;
  EXPECT_EQ(ca.certificates, 2u);
  ASSERT_NE(ca.ctx, nullptr);
  EXPECT_EQ(SSL_CTX_get_verify_mode(ca.ctx.get()), SSL_VERIFY_PEER);

  EXPECT_EQ(loadCaBundle("").reason, "ca.crt: no PEM certificate in it");
  EXPECT_EQ(loadCaBundle("garbage").reason, "ca.crt: no PEM certificate in it");
  // A bundle cut short, or with a key in it, is refused whole.
  std::string cut = root.cert + other.cert;
  cut.resize(cut.size() - 100);
  ca = loadCaBundle(cut);
  EXPECT_FALSE(ca.ok);
  EXPECT_EQ(ca.reason, "ca.crt: block 2 is not a PEM certificate that parses");
  EXPECT_EQ(ca.ctx, nullptr);
  EXPECT_FALSE(loadCaBundle(root.cert + root.key).ok);

  const SslCtxPtr unverified = makeClientContext();
  ASSERT_NE(unverified, nullptr);
  EXPECT_EQ(SSL_CTX_get_verify_mode(unverified.get()), SSL_VERIFY_NONE);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(unverified.get()), TLS1_2_VERSION);
}

TEST(Certificate, ClientConnectionsSendSniForNamesOnly) {
  const SslCtxPtr ctx = makeClientContext();
  for (const auto& [name, sni] : std::vector<std::pair<std::string, std::string>>{
           {"backend.test", "backend.test"}, {"10.0.0.1", ""}, {"fd00::1", ""}, {"", ""}}) {
    SCOPED_TRACE(name);
    SSL* ssl = SSL_new(ctx.get());
    ASSERT_TRUE(prepareClient(ssl, name, /*verify=*/!name.empty()));
    const char* sent = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    EXPECT_EQ(sent == nullptr ? "" : std::string(sent), sni);
    SSL_free(ssl);
  }
}

}  // namespace
}  // namespace portico::tls
