#pragma once
// The request path's extension point (docs/architecture.md): a route's compiled policies run in
// fixed, named phases. Each policy kind has its phase functions in one file of this folder; the
// runner dispatches with std::visit over the route's list (sorted by kind), so nothing is
// allocated or called virtually per policy per request.
//
// What a policy may touch: the RequestContext it is given (the checked request, the body limit,
// the edits to the upstream head, the local response it may answer with). It never edits
// Beast's field list and never writes to a socket; the exchange does that with the result.
// Thread: the worker's.

#include "proxy/http_util.h"
#include "proxy/request_head.h"
#include "snapshot/route.h"

#include <cstdint>

namespace portico::proxy::policy {

enum class Verdict : std::uint8_t {
  kContinue,  // the next policy, then the route's action
  kRespond,   // answer with ctx.response; the action does not run
};

struct RequestContext {
  const RequestInfo& info;
  std::uint64_t body_limit;    // in: the controller's (--max-body-size, 0: none); out: this route's
  LocalResponse response;      // with kRespond
  HeaderEdits upstream_edits;  // applied by the upstream head writer
  bool tls = false;            // the request came over HTTPS
  // Storage for a local response's fields (the exchange's, so they outlive the answer).
  HeaderEdits* response_headers = nullptr;
  std::string* scratch = nullptr;
};

struct ResponseContext {
  bool tls = false;           // the request came over HTTPS
  HeaderEdits& client_edits;  // applied by the client head writer
};

// requestPolicies: runs the route's policies in order until one answers.
Verdict runRequestPolicies(const snapshot::Route& route, RequestContext& ctx);
// responsePolicies: runs the route's policies in order on the upstream's response head.
void runResponsePolicies(const snapshot::Route& route, ResponseContext& ctx);

// One function per policy kind and phase (src/proxy/policy/<kind>.cc); a kind without work in
// a phase continues.
Verdict onRequest(const snapshot::BodyLimit& policy, RequestContext& ctx);
Verdict onRequest(const snapshot::SslRedirect& policy, RequestContext& ctx);
inline Verdict onRequest(const snapshot::Hsts&, RequestContext&) { return Verdict::kContinue; }
void onResponse(const snapshot::Hsts& policy, ResponseContext& ctx);
inline void onResponse(const snapshot::BodyLimit&, ResponseContext&) {}
inline void onResponse(const snapshot::SslRedirect&, ResponseContext&) {}

}  // namespace portico::proxy::policy
