#pragma once
// Certificates from kubernetes.io/tls Secrets: checking one (parse, key match, key type,
// validity, names), and building the server SSL_CTX that serves it. OpenSSL stays in the .cc:
// this header forward-declares SSL_CTX only, so the compiler's side can hold the outcome
// (CertificateCheck) without linking any TLS code.
//
// A check names the Secret's key that is wrong ("tls.crt: ...", "tls.key: ...") so that the
// diagnostic built from it tells the operator what to fix.
//
// Thread: any; pure but for the clock value passed in.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace portico::tls {

enum class KeyType { kNone, kRsa, kEcdsaP256, kEcdsaP384, kEd25519 };
std::string_view keyTypeName(KeyType type);

// The outcome of checking a certificate and its key.
struct CertificateCheck {
  bool ok = false;
  std::string reason;              // when !ok: what is wrong, naming tls.crt or tls.key
  std::vector<std::string> names;  // DNS subjectAltNames, lower-case ("*.a.test" kept as is);
                                   // the subject CN when there are none
  std::int64_t not_before = 0;     // unix seconds
  std::int64_t not_after = 0;
  KeyType key_type = KeyType::kNone;
  std::size_t chain_length = 0;  // certificates in tls.crt, the leaf included
  bool operator==(const CertificateCheck&) const = default;
};

// Protocol settings of the HTTPS listener (flags --tls-min-version, --tls-ciphers).
struct ServerTlsSettings {
  std::string min_version = "1.2";  // "1.2" or "1.3"
  // TLS 1.2 cipher list (OpenSSL syntax): forward-secret AEAD suites only, as Mozilla's
  // "intermediate" profile. TLS 1.3 suites are OpenSSL's defaults (all AEAD).
  std::string ciphers =
      "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
      "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
  // Session resumption with tickets (--tls-session-tickets). Off: every handshake is a full
  // one (no tickets, no session cache), as some operators want for forward secrecy.
  bool session_tickets = true;
};

// Why settings cannot be used, or empty (flags are checked at start with this).
std::string checkSettings(const ServerTlsSettings& settings);

using SslCtxPtr = std::shared_ptr<ssl_ctx_st>;

// A checked certificate and, when it passed, the context that serves it.
struct LoadedCertificate {
  CertificateCheck check;
  SslCtxPtr ctx;  // null unless check.ok
};

// Checks `cert_pem` (the leaf first, then its chain) and `key_pem` at time `now` (unix seconds)
// and, when they pass, builds a server context with `settings`. Never throws.
LoadedCertificate loadCertificate(std::string_view cert_pem, std::string_view key_pem,
                                  std::int64_t now, const ServerTlsSettings& settings);

// The DNS names of the first certificate in `cert_pem` (as CertificateCheck::names), or none.
std::vector<std::string> certificateNamesOf(std::string_view cert_pem);

// ---- client side: the contexts portico connects to TLS backends with ----------------------

// A context for backends: TLS 1.2 or 1.3, ALPN http/1.1. Without `ca` it verifies nothing (as
// ingress-nginx and the ALB do by default); with one it verifies the backend's chain against
// the CA certificates in it (any of them may be the anchor, an intermediate or the backend's own
// certificate too) and, per connection, its name (prepareClient).
struct LoadedCa {
  bool ok = false;
  std::string reason;  // when !ok, naming ca.crt
  std::size_t certificates = 0;
  SslCtxPtr ctx;  // null unless ok
};
LoadedCa loadCaBundle(std::string_view ca_pem);
SslCtxPtr makeClientContext();

// Sets up a new client connection `ssl` (OpenSSL's SSL*): SNI `server_name` (not sent for an IP
// literal, as RFC 6066 3 says) and, when `verify`, the name the certificate must carry. False
// when OpenSSL refuses the name.
bool prepareClient(void* ssl, const std::string& server_name, bool verify);

// "tls.crt: the certificate expired at 2026-01-02T03:04:05Z".
std::string expiredReason(std::int64_t not_after);

// A self-signed certificate and its key, as PEM: the default certificate when no
// --default-ssl-certificate is given, and the test fixtures' certificates.
struct PemPair {
  std::string cert;
  std::string key;
};
PemPair makeSelfSigned(KeyType type, const std::vector<std::string>& names, std::int64_t not_before,
                       std::int64_t not_after);
// A certificate signed by `issuer` (self-signed when null); `ca` makes it a CA (basic
// constraints CA:TRUE, key usage keyCertSign): the test fixtures' CA chains.
PemPair makeCertificate(KeyType type, const std::vector<std::string>& names,
                        std::int64_t not_before, std::int64_t not_after, const PemPair* issuer,
                        bool ca);

}  // namespace portico::tls
