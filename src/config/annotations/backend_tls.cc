#include "config/annotations/backend_tls.h"

#include "common/strings.h"

namespace portico::config::annotations {

namespace {

// A server name as SNI and certificate checks take it: a DNS name (no wildcard) or an IP
// literal, at most 253 characters.
bool validServerName(std::string_view name) {
  if (name.empty() || name.size() > 253) {
    return false;
  }
  if (name.find(':') != std::string_view::npos) {  // IPv6 literal
    return name.find_first_not_of("0123456789abcdef:.") == std::string_view::npos;
  }
  for (auto label : split(name, '.')) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
        return false;
      }
    }
  }
  return true;
}

// A Secret name (DNS-1123 subdomain).
bool validSecretName(std::string_view name) {
  return !name.empty() && name.find('*') == std::string_view::npos &&
         name.find(':') == std::string_view::npos && validServerName(name);
}

}  // namespace

std::optional<BackendTlsAnnotations> parseBackendTls(const model::ObjectMeta& meta,
                                                     const char* kind,
                                                     std::vector<Diagnostic>& diagnostics) {
  BackendTlsAnnotations out;
  const auto& ann = meta.annotations;
  if (ann.empty()) {
    return out;
  }
  bool ok = true;
  auto bad = [&](const char* name, const std::string& value, const std::string& expected) {
    ok = false;
    diagnostics.push_back(Diagnostic{Diagnostic::Severity::kError, kind, meta.key(),
                                     std::string("metadata.annotations[\"") + name + "\"]",
                                     "\"" + value + "\" is not " + expected});
  };
  const char* protocol_name = kBackendProtocol;
  auto protocol = ann.find(kBackendProtocol);
  if (protocol == ann.end()) {
    protocol_name = kNginxBackendProtocol;
    protocol = ann.find(kNginxBackendProtocol);
  }
  if (protocol != ann.end()) {
    const std::string_view v = trim(protocol->second);
    if (iequals(v, "HTTP")) {
      out.https = false;
    } else if (iequals(v, "HTTPS")) {
      out.https = true;
    } else {
      bad(protocol_name, protocol->second,
          "a supported backend protocol (\"HTTP\" or \"HTTPS\"; GRPC, GRPCS, FCGI and "
          "AUTO_HTTP are not supported yet)");
    }
  }
  if (auto it = ann.find(kBackendTlsServerName); it != ann.end()) {
    std::string name = toLower(trim(it->second));
    if (!validServerName(name)) {
      bad(kBackendTlsServerName, it->second, "a DNS name or an IP address (no wildcard, no port)");
    } else {
      out.server_name = std::move(name);
    }
  }
  if (auto it = ann.find(kBackendTlsCaSecret); it != ann.end()) {
    const std::string_view name = trim(it->second);
    if (name.find('/') != std::string_view::npos) {
      bad(kBackendTlsCaSecret, it->second,
          "a Secret name: the Secret must be in the " + std::string(kind) +
              "'s own namespace, so write its name alone");
    } else if (!validSecretName(name)) {
      bad(kBackendTlsCaSecret, it->second, "a Secret name (a DNS-1123 subdomain)");
    } else {
      out.ca_secret = std::string(name);
    }
  }
  if (!ok) {
    return std::nullopt;
  }
  return out;
}

BackendTlsAnnotations merge(const BackendTlsAnnotations& under, const BackendTlsAnnotations& over) {
  BackendTlsAnnotations out = under;
  if (over.https) {
    out.https = over.https;
  }
  if (over.server_name) {
    out.server_name = over.server_name;
  }
  if (over.ca_secret) {
    out.ca_secret = over.ca_secret;
  }
  return out;
}

}  // namespace portico::config::annotations
