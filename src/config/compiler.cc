#include "config/compiler.h"

#include "common/strings.h"
#include "config/annotations/backend_tls.h"
#include "config/builder.h"
#include "config/ingress.h"

#include <algorithm>

namespace portico::config {

using model::ClusterState;

std::string Diagnostic::toString() const {
  std::string s = (severity == Severity::kError ? "error: " : "warning: ") + kind + " " + object;
  if (!field.empty()) {
    s += ": " + field;
  }
  return s + ": " + message;
}

CompileResult compile(const ClusterState& state, const Options& options) {
  Builder builder(state, options);
  processIngresses(builder);
  return builder.finish();
}

std::vector<std::string> caSecretsNamed(const ClusterState& state) {
  std::vector<std::string> out;
  const auto add = [&out](const model::ObjectMeta& meta) {
    if (auto it = meta.annotations.find(annotations::kBackendTlsCaSecret);
        it != meta.annotations.end()) {
      out.push_back(meta.namespace_ + "/" + std::string(trim(it->second)));
    }
  };
  for (const auto& [key, ing] : state.ingresses) {
    add(ing.meta);
  }
  for (const auto& [key, svc] : state.services) {
    add(svc.meta);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

snapshot::Snapshot recompileEndpoints(const snapshot::Snapshot& previous,
                                      const std::vector<TargetGroupSource>& sources,
                                      const ClusterState& state) {
  const auto slices = indexSlices(state);
  std::vector<snapshot::TargetGroup> tgs;
  tgs.reserve(previous.targetGroups().size());
  for (std::size_t i = 0; i < previous.targetGroups().size(); ++i) {
    const TargetGroupSource& source = sources.at(i);
    auto it = slices.find(source.service);
    snapshot::TargetGroup tg;
    tg.id = previous.targetGroups()[i].id;
    tg.tls = previous.targetGroups()[i].tls;
    tg.settings = previous.targetGroups()[i].settings;
    if (source.cluster_ip || !source.external_name.empty()) {
      tg.endpoints = previous.targetGroups()[i].endpoints;  // not from slices
    } else if (it != slices.end()) {
      tg.endpoints = endpointsOf(source.port, it->second);
    }
    tgs.push_back(std::move(tg));
  }
  return previous.withEndpoints(std::move(tgs));
}

bool onlyEndpointsDiffer(const ClusterState& a, const ClusterState& b) {
  return a.ingresses == b.ingresses && a.ingress_classes == b.ingress_classes &&
         a.services == b.services && a.secrets == b.secrets && a.config_maps == b.config_maps;
}

}  // namespace portico::config
