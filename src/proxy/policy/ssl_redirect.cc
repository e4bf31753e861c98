// SslRedirect: a request that came over plain HTTP to a host with TLS (or a route with
// portico.dev/force-ssl-redirect) is answered with a redirect to the same URL over HTTPS.
// Phase: requestPolicies, first. 308 keeps the method and body (ingress-nginx answers 308 too).

#include "proxy/policy/policy.h"

#include <charconv>

namespace portico::proxy::policy {

Verdict onRequest(const snapshot::SslRedirect& policy, RequestContext& ctx) {
  if (ctx.tls || ctx.response_headers == nullptr || ctx.scratch == nullptr) {
    return Verdict::kContinue;
  }
  std::string& location = *ctx.scratch;
  location.assign("https://");
  location.append(splitHostPort(ctx.info.host).first);
  if (policy.port != 443) {
    char port[8];
    const auto [end, ec] = std::to_chars(port, port + sizeof(port), policy.port);
    (void)ec;
    location.push_back(':');
    location.append(port, end);
  }
  const std::string_view target = ctx.info.origin_target;
  if (target.empty() || target.front() != '/') {
    location.push_back('/');
  }
  location.append(target);
  ctx.response_headers->clear();
  ctx.response_headers->set("Location", location);
  ctx.response.status = policy.status;
  ctx.response.headers = ctx.response_headers;
  return Verdict::kRespond;
}

}  // namespace portico::proxy::policy
