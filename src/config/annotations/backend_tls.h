#pragma once
// How portico speaks to a backend: plain HTTP, or TLS (re-encryption). Read from an Ingress (for
// all of its backends) and from a Service (for all of its ports); the Service's annotations win,
// one by one.
//   portico.dev/backend-protocol: "HTTP" | "HTTPS"   (default HTTP; ingress-nginx's
//       nginx.ingress.kubernetes.io/backend-protocol is read too, for HTTP and HTTPS)
//   portico.dev/backend-tls-server-name: NAME         SNI and, with a CA, the name verified
//       (default: the Service's DNS name, NAME.NAMESPACE.svc)
//   portico.dev/backend-tls-ca-secret: NAME           a Secret of the same namespace whose
//       ca.crt verifies the backend's certificate (default: no verification, as ingress-nginx
//       and the ALB do)
// Pure; part of the compiler.

#include "config/compiler.h"
#include "model/types.h"

#include <optional>
#include <string>
#include <vector>

namespace portico::config::annotations {

inline constexpr char kBackendProtocol[] = "portico.dev/backend-protocol";
inline constexpr char kNginxBackendProtocol[] = "nginx.ingress.kubernetes.io/backend-protocol";
inline constexpr char kBackendTlsServerName[] = "portico.dev/backend-tls-server-name";
inline constexpr char kBackendTlsCaSecret[] = "portico.dev/backend-tls-ca-secret";

// What one object's annotations say; unset fields leave the choice to the other object or the
// default.
struct BackendTlsAnnotations {
  std::optional<bool> https;
  std::optional<std::string> server_name;  // lower-case
  std::optional<std::string> ca_secret;    // a name, in the object's namespace
  bool any() const { return https || server_name || ca_secret; }
};

// `kind` names the object in diagnostics ("Ingress", "Service"). nullopt when an annotation has
// a bad value (then a diagnostic on metadata.annotations[...] is added).
std::optional<BackendTlsAnnotations> parseBackendTls(const model::ObjectMeta& meta,
                                                     const char* kind,
                                                     std::vector<Diagnostic>& diagnostics);

// `over` wins field by field.
BackendTlsAnnotations merge(const BackendTlsAnnotations& under, const BackendTlsAnnotations& over);

}  // namespace portico::config::annotations
