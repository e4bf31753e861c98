#include "config/annotations/ssl.h"

#include "common/strings.h"

namespace portico::config::annotations {

namespace {

struct Reader {
  const model::Ingress& ingress;
  std::vector<Diagnostic>& diagnostics;
  bool ok = true;

  // The value of `ours`, else of `nginx` (when given); the name found in `name`.
  const std::string* find(const char* ours, const char* nginx, const char*& name) const {
    const auto& ann = ingress.meta.annotations;
    name = ours;
    auto it = ann.find(ours);
    if (it == ann.end() && nginx != nullptr) {
      name = nginx;
      it = ann.find(nginx);
    }
    return it == ann.end() ? nullptr : &it->second;
  }
  void bad(const char* name, const std::string& value, const char* expected) {
    ok = false;
    diagnostics.push_back(Diagnostic{Diagnostic::Severity::kError, "Ingress", ingress.meta.key(),
                                     std::string("metadata.annotations[\"") + name + "\"]",
                                     "\"" + value + "\" is not " + expected});
  }
  void boolean(const char* ours, const char* nginx, bool& out) {
    const char* name = nullptr;
    if (const std::string* v = find(ours, nginx, name)) {
      const std::string_view t = trim(*v);
      if (iequals(t, "true")) {
        out = true;
      } else if (iequals(t, "false")) {
        out = false;
      } else {
        bad(name, *v, "\"true\" or \"false\"");
      }
    }
  }
  void seconds(const char* ours, std::uint64_t& out) {
    const char* name = nullptr;
    if (const std::string* v = find(ours, nullptr, name)) {
      const auto n = parseUint(trim(*v));
      if (!n || *n > 20u * 365 * 86400) {
        bad(name, *v, "a number of seconds (at most 20 years)");
      } else {
        out = *n;
      }
    }
  }
};

}  // namespace

std::optional<IngressSsl> parseSsl(const model::Ingress& ingress, const TlsOptions& defaults,
                                   std::vector<Diagnostic>& diagnostics) {
  IngressSsl ssl;
  ssl.hsts = defaults.hsts;
  ssl.hsts_max_age = defaults.hsts_max_age;
  ssl.hsts_include_subdomains = defaults.hsts_include_subdomains;
  ssl.hsts_preload = defaults.hsts_preload;
  Reader r{ingress, diagnostics};
  r.boolean("portico.dev/ssl-redirect", "nginx.ingress.kubernetes.io/ssl-redirect",
            ssl.ssl_redirect);
  r.boolean("portico.dev/force-ssl-redirect", "nginx.ingress.kubernetes.io/force-ssl-redirect",
            ssl.force_ssl_redirect);
  r.boolean("portico.dev/hsts", nullptr, ssl.hsts);
  r.seconds("portico.dev/hsts-max-age", ssl.hsts_max_age);
  r.boolean("portico.dev/hsts-include-subdomains", nullptr, ssl.hsts_include_subdomains);
  r.boolean("portico.dev/hsts-preload", nullptr, ssl.hsts_preload);
  if (!r.ok) {
    return std::nullopt;
  }
  ssl.hsts_value = hstsValue(ssl);
  return ssl;
}

std::string hstsValue(const IngressSsl& ssl) {
  std::string v = "max-age=" + std::to_string(ssl.hsts_max_age);
  if (ssl.hsts_include_subdomains) {
    v += "; includeSubDomains";
  }
  if (ssl.hsts_preload) {
    v += "; preload";
  }
  return v;
}

}  // namespace portico::config::annotations
