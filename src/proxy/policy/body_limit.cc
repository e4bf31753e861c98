// BodyLimit (portico.dev/proxy-body-size): replaces the controller's --max-body-size for the
// route. Phase: requestPolicies, after the head is read and before any of the body is.
// A Content-Length over the limit is answered at once; a chunked body is cut by the parser's
// limit while it streams (413 if nothing of the response was sent yet).

#include "proxy/policy/policy.h"

namespace portico::proxy::policy {

Verdict onRequest(const snapshot::BodyLimit& policy, RequestContext& ctx) {
  ctx.body_limit = policy.max_bytes;
  if (policy.max_bytes != 0 && ctx.info.content_length &&
      *ctx.info.content_length > policy.max_bytes) {
    ctx.response.status = 413;
    return Verdict::kRespond;
  }
  return Verdict::kContinue;
}

}  // namespace portico::proxy::policy
