#pragma once
// The certificates of the cluster's TLS Secrets, checked and built into server contexts once
// per Secret version (DESIGN.md: "TLS contexts, built once per Secret version"): a compile asks
// for every Secret's check, and only Secrets that are new or changed since the last compile are
// parsed. The compiler takes the checks as input; publishing joins the snapshot's TLS hosts to
// the contexts kept here (SniTable).
//
// Thread: the controller's (check() and the SniTable build run where compiles run).

#include "config/compiler.h"
#include "model/cluster_state.h"
#include "snapshot/snapshot.h"
#include "tls/certificate.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace portico::tls {

// The contexts one published config serves: by SNI name (exact, then the wildcard one label
// up), else the default. Immutable once built; workers read it during handshakes.
class SniTable final {
 public:
  SniTable(SslCtxPtr default_ctx, std::unordered_map<std::string, SslCtxPtr> by_host)
      : default_(std::move(default_ctx)), by_host_(std::move(by_host)) {}
  // `name` as the client sent it in SNI (any case); empty: no SNI.
  ssl_ctx_st* select(std::string_view name) const;
  ssl_ctx_st* defaultContext() const { return default_.get(); }
  std::size_t size() const { return by_host_.size(); }

 private:
  SslCtxPtr default_;
  std::unordered_map<std::string, SslCtxPtr> by_host_;  // lower-case; "*.a.test" for wildcards
};

class CertificateStore final {
 public:
  using Now = std::function<std::int64_t()>;  // unix seconds
  explicit CertificateStore(ServerTlsSettings settings, Now now = {});

  // The check of every kubernetes.io/tls Secret in `secrets`, by "namespace/name", and of the
  // ca.crt of those named in `ca_secrets` (the backend CA Secrets the state's annotations name:
  // config::caSecretsNamed). Parses only what was not seen at this version before, and forgets
  // Secrets that are gone. A certificate that has expired since it was loaded is reported
  // expired without parsing it again.
  config::SecretChecks check(const model::ObjectMap<model::Secret>& secrets,
                             const std::vector<std::string>& ca_secrets = {});

  // The context of a Secret whose last check passed, or null.
  SslCtxPtr context(std::string_view secret) const;

  // The client contexts that verify backends with each CA Secret the snapshot's target groups
  // name and whose ca.crt passed its check (the others are missing: their connections fail).
  std::unordered_map<std::string, SslCtxPtr> caContexts(const snapshot::Snapshot& snapshot) const;

  // The table a snapshot is served with: each TLS host's Secret context, the hosts whose Secret
  // is missing or bad (secret "") on `default_ctx`.
  std::shared_ptr<const SniTable> sniTable(const snapshot::Snapshot& snapshot,
                                           SslCtxPtr default_ctx) const;

  // portico_ssl_certificate_expiry_timestamp_seconds: for each TLS host of `snapshot` whose
  // Secret holds a certificate that parsed (expired ones included: they are what an alert
  // must see), {namespace, secret, host} and the certificate's notAfter in unix seconds.
  std::vector<std::pair<std::vector<std::pair<std::string, std::string>>, std::int64_t>> expiryRows(
      const snapshot::Snapshot& snapshot) const;

  // Certificates parsed so far (a Secret parsed again counts again): for tests and metrics.
  std::uint64_t parses() const { return parses_; }
  const ServerTlsSettings& settings() const { return settings_; }
  std::int64_t now() const;

 private:
  struct Entry {
    std::size_t version = 0;  // of the Secret's resourceVersion and data
    LoadedCertificate loaded;
  };
  struct CaEntry {
    std::size_t version = 0;  // of the Secret's resourceVersion and ca.crt
    LoadedCa loaded;
  };
  ServerTlsSettings settings_;
  Now now_;
  std::unordered_map<std::string, Entry> entries_;
  std::unordered_map<std::string, CaEntry> ca_entries_;
  std::uint64_t parses_ = 0;
};

}  // namespace portico::tls
