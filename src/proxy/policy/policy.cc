#include "proxy/policy/policy.h"

namespace portico::proxy::policy {

Verdict runRequestPolicies(const snapshot::Route& route, RequestContext& ctx) {
  for (const snapshot::Policy& p : route.policies) {
    const Verdict v = std::visit([&](const auto& policy) { return onRequest(policy, ctx); }, p);
    if (v != Verdict::kContinue) {
      return v;
    }
  }
  return Verdict::kContinue;
}

void runResponsePolicies(const snapshot::Route& route, ResponseContext& ctx) {
  for (const snapshot::Policy& p : route.policies) {
    std::visit([&](const auto& policy) { onResponse(policy, ctx); }, p);
  }
}

}  // namespace portico::proxy::policy
