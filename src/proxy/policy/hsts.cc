// Hsts: Strict-Transport-Security on responses to requests that came over HTTPS (RFC 6797 7.2:
// never over plain HTTP). It replaces the upstream's own. Phase: responsePolicies.

#include "proxy/policy/policy.h"

namespace portico::proxy::policy {

void onResponse(const snapshot::Hsts& policy, ResponseContext& ctx) {
  if (ctx.tls) {
    ctx.client_edits.set("Strict-Transport-Security", policy.value);
  }
}

}  // namespace portico::proxy::policy
