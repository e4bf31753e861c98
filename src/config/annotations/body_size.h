#pragma once
// The body size annotation: portico.dev/proxy-body-size, or ingress-nginx's
// nginx.ingress.kubernetes.io/proxy-body-size (ours wins when both are set). A size as nginx or
// Kubernetes writes it ("8m", "1g", "512k", "64Mi", "1048576"); "0" lifts the limit.
// Pure; part of the compiler.

#include "config/compiler.h"
#include "model/types.h"
#include "snapshot/route.h"

#include <optional>
#include <vector>

namespace portico::config::annotations {

inline constexpr char kBodySize[] = "portico.dev/proxy-body-size";
inline constexpr char kNginxBodySize[] = "nginx.ingress.kubernetes.io/proxy-body-size";

// The policy the Ingress asks for, or nullopt (none set, or a bad value: then a diagnostic on
// metadata.annotations[...] is added and the routes keep the controller's limit).
std::optional<snapshot::BodyLimit> parseBodySize(const model::Ingress& ingress,
                                                 std::vector<Diagnostic>& diagnostics);

}  // namespace portico::config::annotations
