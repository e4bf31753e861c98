#include "tls/certificate.h"

#include "common/strings.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>

namespace portico::tls {

namespace {

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;

// The first queued OpenSSL error as text, then the queue cleared (errors are per thread).
std::string sslError() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) {
    return "unknown error";
  }
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

BioPtr memBio(std::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

// Every PEM certificate in `pem`, in order, up to the first block that is not one.
std::vector<X509Ptr> readCertificates(std::string_view pem) {
  std::vector<X509Ptr> out;
  BioPtr bio = memBio(pem);
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    out.emplace_back(x);
  }
  ERR_clear_error();  // the end of the PEM text reads as an error
  return out;
}

std::int64_t toUnix(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    return 0;
  }
  return static_cast<std::int64_t>(timegm(&tm));
}

std::string isoTime(std::int64_t t) {
  const auto tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  const std::size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

std::vector<std::string> certificateNames(X509* leaf) {
  std::vector<std::string> names;
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
      if (g->type == GEN_DNS) {
        const auto* data = ASN1_STRING_get0_data(g->d.dNSName);
        names.push_back(
            toLower(std::string_view(reinterpret_cast<const char*>(data),
                                     static_cast<std::size_t>(ASN1_STRING_length(g->d.dNSName)))));
      }
    }
    sk_GENERAL_NAME_pop_free(sans, GENERAL_NAME_free);
  }
  if (names.empty()) {
    X509_NAME* subject = X509_get_subject_name(leaf);
    const int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (at >= 0) {
      const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
      names.push_back(
          toLower(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)),
                                   static_cast<std::size_t>(ASN1_STRING_length(cn)))));
    }
  }
  return names;
}

// The key's type, or kNone with `why` set when portico does not serve it.
KeyType keyType(EVP_PKEY* key, std::string& why) {
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
      if (EVP_PKEY_get_bits(key) < 2048) {
        why = "tls.key: an RSA key of " + std::to_string(EVP_PKEY_get_bits(key)) +
              " bits; at least 2048 are required";
        return KeyType::kNone;
      }
      return KeyType::kRsa;
    case EVP_PKEY_EC: {
      char group[64] = {};
      std::size_t len = 0;
      if (EVP_PKEY_get_group_name(key, group, sizeof(group), &len) != 1) {
        why = "tls.key: an EC key without a named curve";
        return KeyType::kNone;
      }
      const std::string_view g(group, len);
      if (g == "prime256v1" || g == "P-256") {
        return KeyType::kEcdsaP256;
      }
      if (g == "secp384r1" || g == "P-384") {
        return KeyType::kEcdsaP384;
      }
      why = "tls.key: EC curve " + std::string(g) + " is not supported (P-256 or P-384)";
      return KeyType::kNone;
    }
    case EVP_PKEY_ED25519:
      return KeyType::kEd25519;
    default:
      why = "tls.key: the key type is not supported (RSA, ECDSA P-256/P-384 or Ed25519)";
      return KeyType::kNone;
  }
}

int selectAlpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen,
               const unsigned char* in, unsigned int inlen, void* /*arg*/) {
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kHttp11, sizeof(kHttp11), in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;  // no http/1.1 offered: carry on without ALPN
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// A context with the listener's protocol settings and no certificate yet; null and `why` set
// when the settings are refused.
SSL_CTX* newServerContext(const ServerTlsSettings& settings, std::string& why) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) {
    why = sslError();
    return nullptr;
  }
  const int min = settings.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
  if (settings.min_version != "1.2" && settings.min_version != "1.3") {
    why = "TLS minimum version \"" + settings.min_version + "\" is not 1.2 or 1.3";
  } else if (SSL_CTX_set_min_proto_version(ctx, min) != 1) {
    why = sslError();
  } else if (SSL_CTX_set_cipher_list(ctx, settings.ciphers.c_str()) != 1) {
    why = "TLS cipher list \"" + settings.ciphers + "\" has no cipher OpenSSL knows";
    ERR_clear_error();
  }
  if (!why.empty()) {
    SSL_CTX_free(ctx);
    return nullptr;
  }
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  // Sessions resume by (stateless) tickets only. OpenSSL's internal session cache would keep
  // every session of every context in memory and walk its whole table every 255 handshakes
  // to flush expired ones: a cost per handshake and memory for nothing tickets do not do.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (!settings.session_tickets) {
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);  // TLS 1.3 would send stateful tickets otherwise
  }
  SSL_CTX_set_alpn_select_cb(ctx, selectAlpn, nullptr);
  return ctx;
}

}  // namespace

std::string_view keyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kNone:
      return "none";
    case KeyType::kRsa:
      return "RSA";
    case KeyType::kEcdsaP256:
      return "ECDSA P-256";
    case KeyType::kEcdsaP384:
      return "ECDSA P-384";
    case KeyType::kEd25519:
      return "Ed25519";
  }
  return "none";
}

std::vector<std::string> certificateNamesOf(std::string_view cert_pem) {
  BioPtr bio = memBio(cert_pem);
  X509Ptr x(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  return x ? certificateNames(x.get()) : std::vector<std::string>{};
}

std::string expiredReason(std::int64_t not_after) {
  return "tls.crt: the certificate expired at " + isoTime(not_after);
}

std::string checkSettings(const ServerTlsSettings& settings) {
  std::string why;
  SSL_CTX* ctx = newServerContext(settings, why);
  SSL_CTX_free(ctx);
  return why;
}

LoadedCertificate loadCertificate(std::string_view cert_pem, std::string_view key_pem,
                                  std::int64_t now, const ServerTlsSettings& settings) {
  LoadedCertificate out;
  CertificateCheck& check = out.check;
  ERR_clear_error();

  std::vector<X509Ptr> chain = readCertificates(cert_pem);
  if (chain.empty()) {
    check.reason = "tls.crt: no PEM certificate in it";
    return out;
  }
  check.chain_length = chain.size();
  X509* leaf = chain.front().get();

  PkeyPtr key;
  {
    BioPtr bio = memBio(key_pem);
    key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  }
  if (!key) {
    ERR_clear_error();
    check.reason = "tls.key: no PEM private key in it (or it is encrypted)";
    return out;
  }
  check.key_type = keyType(key.get(), check.reason);
  if (check.key_type == KeyType::kNone) {
    return out;
  }
  if (X509_check_private_key(leaf, key.get()) != 1) {
    ERR_clear_error();
    check.reason = "tls.key does not match the certificate in tls.crt";
    return out;
  }
  check.names = certificateNames(leaf);
  check.not_before = toUnix(X509_get0_notBefore(leaf));
  check.not_after = toUnix(X509_get0_notAfter(leaf));
  if (now > check.not_after) {
    check.reason = expiredReason(check.not_after);
    return out;
  }
  if (now < check.not_before) {
    check.reason = "tls.crt: the certificate is not valid before " + isoTime(check.not_before);
    return out;
  }

  std::string why;
  SSL_CTX* ctx = newServerContext(settings, why);
  if (ctx == nullptr) {
    check.reason = why;
    return out;
  }
  SslCtxPtr owned(ctx, SSL_CTX_free);
  if (SSL_CTX_use_certificate(ctx, leaf) != 1 || SSL_CTX_use_PrivateKey(ctx, key.get()) != 1) {
    check.reason = "tls.crt: OpenSSL refused the certificate: " + sslError();
    return out;
  }
  for (std::size_t i = 1; i < chain.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx, chain[i].get()) != 1) {
      check.reason =
          "tls.crt: OpenSSL refused chain certificate " + std::to_string(i) + ": " + sslError();
      return out;
    }
  }
  check.ok = true;
  out.ctx = std::move(owned);
  return out;
}

namespace {
SSL_CTX* newClientContext() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) {
    return nullptr;
  }
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_alpn_protos(ctx, kHttp11, sizeof(kHttp11)) != 0) {  // 0 is success here
    SSL_CTX_free(ctx);
    return nullptr;
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  // Idle pooled connections keep no read and write buffers.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  return ctx;
}
}  // namespace

SslCtxPtr makeClientContext() {
  SSL_CTX* ctx = newClientContext();
  return ctx == nullptr ? nullptr : SslCtxPtr(ctx, SSL_CTX_free);
}

LoadedCa loadCaBundle(std::string_view ca_pem) {
  LoadedCa out;
  ERR_clear_error();
  std::vector<X509Ptr> certs = readCertificates(ca_pem);
  // Every PEM block must be a certificate that parses: a bundle cut short or with a key in it
  // is refused whole rather than trusted in part.
  std::size_t blocks = 0;
  for (std::size_t at = ca_pem.find("-----BEGIN "); at != std::string_view::npos;
       at = ca_pem.find("-----BEGIN ", at + 1)) {
    ++blocks;
  }
  if (certs.empty()) {
    out.reason = "ca.crt: no PEM certificate in it";
    return out;
  }
  if (blocks != certs.size()) {
    out.reason = "ca.crt: block " + std::to_string(certs.size() + 1) +
                 " is not a PEM certificate that parses";
    return out;
  }
  SSL_CTX* raw = newClientContext();
  if (raw == nullptr) {
    out.reason = "ca.crt: " + sslError();
    return out;
  }
  SslCtxPtr ctx(raw, SSL_CTX_free);
  X509_STORE* store = SSL_CTX_get_cert_store(raw);
  for (const auto& cert : certs) {
    if (X509_STORE_add_cert(store, cert.get()) != 1) {
      out.reason = "ca.crt: OpenSSL refused a certificate: " + sslError();
      return out;
    }
  }
  X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(raw), X509_V_FLAG_PARTIAL_CHAIN);
  SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, nullptr);
  out.ok = true;
  out.certificates = certs.size();
  out.ctx = std::move(ctx);
  return out;
}

bool prepareClient(void* handle, const std::string& server_name, bool verify) {
  SSL* ssl = static_cast<SSL*>(handle);
  const bool ip =
      !server_name.empty() && (server_name.find(':') != std::string::npos ||
                               server_name.find_first_not_of("0123456789.") == std::string::npos);
  if (!server_name.empty() && !ip && SSL_set_tlsext_host_name(ssl, server_name.c_str()) != 1) {
    ERR_clear_error();
    return false;
  }
  if (!verify) {
    return true;
  }
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, server_name.c_str())
                    : X509_VERIFY_PARAM_set1_host(param, server_name.c_str(), 0);
  if (ok != 1) {
    ERR_clear_error();
    return false;
  }
  return true;
}

PemPair makeSelfSigned(KeyType type, const std::vector<std::string>& names, std::int64_t not_before,
                       std::int64_t not_after) {
  return makeCertificate(type, names, not_before, not_after, nullptr, false);
}

PemPair makeCertificate(KeyType type, const std::vector<std::string>& names,
                        std::int64_t not_before, std::int64_t not_after, const PemPair* issuer,
                        bool ca) {
  X509Ptr issuer_cert;
  PkeyPtr issuer_key;
  if (issuer != nullptr) {
    BioPtr cert_bio = memBio(issuer->cert);
    BioPtr key_bio = memBio(issuer->key);
    issuer_cert.reset(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
    issuer_key.reset(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
    if (!issuer_cert || !issuer_key) {
      ERR_clear_error();
      return {};
    }
  }
  PkeyPtr key;
  switch (type) {
    case KeyType::kRsa:
      key.reset(EVP_RSA_gen(2048));
      break;
    case KeyType::kEcdsaP384:
      key.reset(EVP_EC_gen("P-384"));
      break;
    case KeyType::kEd25519:
      key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
      break;
    case KeyType::kEcdsaP256:
    case KeyType::kNone:
      key.reset(EVP_EC_gen("P-256"));
      break;
  }
  X509Ptr x(X509_new());
  if (!key || !x) {
    return {};
  }
  X509_set_version(x.get(), 2);
  std::uint64_t serial = 0;
  RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof(serial));
  ASN1_INTEGER_set_uint64(X509_get_serialNumber(x.get()), serial >> 1);
  ASN1_TIME_set(X509_getm_notBefore(x.get()), static_cast<std::time_t>(not_before));
  ASN1_TIME_set(X509_getm_notAfter(x.get()), static_cast<std::time_t>(not_after));
  X509_set_pubkey(x.get(), key.get());
  X509_NAME* subject = X509_get_subject_name(x.get());
  const std::string cn = names.empty() ? "portico" : names.front();
  X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("portico"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x.get(), issuer_cert ? X509_get_subject_name(issuer_cert.get()) : subject);
  X509* signer_cert = issuer_cert ? issuer_cert.get() : x.get();
  EVP_PKEY* signer_key = issuer_key ? issuer_key.get() : key.get();
  if (ca) {
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, signer_cert, x.get(), nullptr, nullptr, 0);
    for (const auto& [nid, value] :
         {std::pair<int, const char*>{NID_basic_constraints, "critical,CA:TRUE"},
          {NID_key_usage, "critical,keyCertSign,cRLSign"}}) {
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
      if (ext != nullptr) {
        X509_add_ext(x.get(), ext, -1);
        X509_EXTENSION_free(ext);
      }
    }
  }
  if (!names.empty()) {
    std::string san;
    for (const std::string& n : names) {
      san += (san.empty() ? "DNS:" : ",DNS:") + n;
    }
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, signer_cert, x.get(), nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, san.c_str());
    if (ext != nullptr) {
      X509_add_ext(x.get(), ext, -1);
      X509_EXTENSION_free(ext);
    }
  }
  const bool ed25519_signer = EVP_PKEY_get_id(signer_key) == EVP_PKEY_ED25519;
  X509_sign(x.get(), signer_key, ed25519_signer ? nullptr : EVP_sha256());
  PemPair out;
  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  BioPtr key_bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(cert_bio.get(), x.get());
  PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(cert_bio.get(), &data);
  out.cert.assign(data, static_cast<std::size_t>(n));
  n = BIO_get_mem_data(key_bio.get(), &data);
  out.key.assign(data, static_cast<std::size_t>(n));
  ERR_clear_error();
  return out;
}

}  // namespace portico::tls
