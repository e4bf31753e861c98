#pragma once
// The HTTPS annotations of an Ingress: redirects and HSTS for its routes on hosts that have TLS.
//   portico.dev/ssl-redirect: "false"        no HTTP->HTTPS redirect (default: on for TLS hosts)
//   portico.dev/force-ssl-redirect: "true"   redirect even without TLS here (TLS in front)
//   portico.dev/hsts: "false"                no Strict-Transport-Security
//   portico.dev/hsts-max-age: "SECONDS", portico.dev/hsts-include-subdomains: "true|false",
//   portico.dev/hsts-preload: "true|false"
// ingress-nginx's nginx.ingress.kubernetes.io/ssl-redirect and force-ssl-redirect are read too
// (ours win when both are set). Booleans are "true" or "false" in any case.
// Pure; part of the compiler.

#include "config/compiler.h"
#include "model/types.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace portico::config::annotations {

struct IngressSsl {
  bool ssl_redirect = true;
  bool force_ssl_redirect = false;
  bool hsts = true;
  std::uint64_t hsts_max_age = 0;
  bool hsts_include_subdomains = false;
  bool hsts_preload = false;
  std::string hsts_value;  // hstsValue() of the above, built once per Ingress
};

// The Ingress's settings over `defaults`; nullopt when an annotation has a bad value (then a
// diagnostic on metadata.annotations[...] is added).
std::optional<IngressSsl> parseSsl(const model::Ingress& ingress, const TlsOptions& defaults,
                                   std::vector<Diagnostic>& diagnostics);

// The Strict-Transport-Security value: "max-age=N[; includeSubDomains][; preload]".
std::string hstsValue(const IngressSsl& ssl);

}  // namespace portico::config::annotations
