#include "tls/store.h"

#include "common/strings.h"

#include <chrono>

namespace portico::tls {

namespace {

constexpr char kTlsType[] = "kubernetes.io/tls";

// A hash of the Secret's resourceVersion and the values of `keys`.
std::size_t versionOf(const model::Secret& s, std::initializer_list<const char*> keys) {
  const std::hash<std::string_view> h;
  std::size_t v = h(s.meta.resource_version);
  for (const char* key : keys) {
    const auto it = s.data.find(key);
    v = v * 1000003u ^ h(it == s.data.end() ? std::string_view() : std::string_view(it->second));
  }
  return v;
}

config::SecretCheck toSecretCheck(const CertificateCheck& c) {
  config::SecretCheck out;
  out.ok = c.ok;
  out.reason = c.reason;
  out.names = c.names;
  return out;
}

}  // namespace

ssl_ctx_st* SniTable::select(std::string_view name) const {
  if (name.empty() || name.size() > 253) {
    return default_.get();
  }
  std::string host = toLower(name);
  if (!host.empty() && host.back() == '.') {
    host.pop_back();  // a fully qualified name
  }
  if (auto it = by_host_.find(host); it != by_host_.end()) {
    return it->second.get();
  }
  if (const std::string wildcard = wildcardFor(host); !wildcard.empty()) {
    if (auto it = by_host_.find(wildcard); it != by_host_.end()) {
      return it->second.get();
    }
  }
  return default_.get();
}

CertificateStore::CertificateStore(ServerTlsSettings settings, Now now)
    : settings_(std::move(settings)), now_(std::move(now)) {}

std::int64_t CertificateStore::now() const {
  if (now_) {
    return now_();
  }
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

config::SecretChecks CertificateStore::check(const model::ObjectMap<model::Secret>& secrets,
                                             const std::vector<std::string>& ca_secrets) {
  const std::int64_t t = now();
  config::SecretChecks out;
  out.reserve(secrets.size());
  std::unordered_map<std::string, Entry> kept;
  kept.reserve(secrets.size());
  for (const auto& [key, secret] : secrets) {
    if (secret.type != kTlsType) {
      continue;
    }
    const std::size_t version = versionOf(secret, {"tls.crt", "tls.key"});
    Entry entry;
    if (auto it = entries_.find(key); it != entries_.end() && it->second.version == version) {
      entry = std::move(it->second);
    } else {
      const auto crt = secret.data.find("tls.crt");
      const auto pem_key = secret.data.find("tls.key");
      entry.version = version;
      if (crt == secret.data.end() || pem_key == secret.data.end()) {
        entry.loaded.check.reason = crt == secret.data.end() ? "tls.crt: missing from the Secret"
                                                             : "tls.key: missing from the Secret";
      } else {
        entry.loaded = loadCertificate(crt->second, pem_key->second, t, settings_);
        ++parses_;
      }
    }
    config::SecretCheck check = toSecretCheck(entry.loaded.check);
    if (check.ok && t > entry.loaded.check.not_after) {
      // Expired since it was loaded: refused like one that came expired, without a parse.
      check.ok = false;
      check.reason = expiredReason(entry.loaded.check.not_after);
    }
    out.emplace(key, std::move(check));
    kept.emplace(key, std::move(entry));
  }
  entries_ = std::move(kept);

  std::unordered_map<std::string, CaEntry> kept_ca;
  for (const std::string& key : ca_secrets) {
    const auto found = secrets.find(key);
    if (found == secrets.end() || kept_ca.count(key) > 0) {
      continue;
    }
    const model::Secret& secret = found->second;
    const auto ca = secret.data.find("ca.crt");
    config::SecretCheck& check = out[key];
    check.has_ca = ca != secret.data.end();
    if (!check.has_ca) {
      continue;
    }
    const std::size_t version = versionOf(secret, {"ca.crt"});
    CaEntry entry;
    if (auto it = ca_entries_.find(key); it != ca_entries_.end() && it->second.version == version) {
      entry = std::move(it->second);
    } else {
      entry.version = version;
      entry.loaded = loadCaBundle(ca->second);
      ++parses_;
    }
    check.ca_ok = entry.loaded.ok;
    check.ca_reason = entry.loaded.reason;
    kept_ca.emplace(key, std::move(entry));
  }
  ca_entries_ = std::move(kept_ca);
  return out;
}

std::vector<std::pair<std::vector<std::pair<std::string, std::string>>, std::int64_t>>
CertificateStore::expiryRows(const snapshot::Snapshot& snapshot) const {
  std::vector<std::pair<std::vector<std::pair<std::string, std::string>>, std::int64_t>> rows;
  for (const snapshot::TlsHost& t : snapshot.tlsHosts()) {
    const auto it = entries_.find(t.asked);
    if (t.asked.empty() || it == entries_.end() || it->second.loaded.check.not_after == 0) {
      continue;
    }
    const auto slash = t.asked.find('/');
    rows.push_back({{{"namespace", t.asked.substr(0, slash)},
                     {"secret", t.asked.substr(slash + 1)},
                     {"host", t.host}},
                    it->second.loaded.check.not_after});
  }
  return rows;
}

std::unordered_map<std::string, SslCtxPtr> CertificateStore::caContexts(
    const snapshot::Snapshot& snapshot) const {
  std::unordered_map<std::string, SslCtxPtr> out;
  for (const auto& tg : snapshot.targetGroups()) {
    if (!tg.tls || tg.tls->ca_secret.empty()) {
      continue;
    }
    const auto it = ca_entries_.find(tg.tls->ca_secret);
    if (it != ca_entries_.end() && it->second.loaded.ok) {
      out.emplace(tg.tls->ca_secret, it->second.loaded.ctx);
    }
  }
  return out;
}

SslCtxPtr CertificateStore::context(std::string_view secret) const {
  const auto it = entries_.find(std::string(secret));
  if (it == entries_.end() || !it->second.loaded.check.ok ||
      now() > it->second.loaded.check.not_after) {
    return nullptr;
  }
  return it->second.loaded.ctx;
}

std::shared_ptr<const SniTable> CertificateStore::sniTable(const snapshot::Snapshot& snapshot,
                                                           SslCtxPtr default_ctx) const {
  std::unordered_map<std::string, SslCtxPtr> by_host;
  by_host.reserve(snapshot.tlsHosts().size());
  for (const snapshot::TlsHost& t : snapshot.tlsHosts()) {
    SslCtxPtr ctx = t.secret.empty() ? nullptr : context(t.secret);
    by_host.emplace(t.host, ctx ? std::move(ctx) : default_ctx);
  }
  return std::make_shared<const SniTable>(std::move(default_ctx), std::move(by_host));
}

}  // namespace portico::tls
