#include "config/annotations/body_size.h"

#include "common/strings.h"

namespace portico::config::annotations {

std::optional<snapshot::BodyLimit> parseBodySize(const model::Ingress& ingress,
                                                 std::vector<Diagnostic>& diagnostics) {
  const auto& ann = ingress.meta.annotations;
  const char* name = kBodySize;
  auto it = ann.find(kBodySize);
  if (it == ann.end()) {
    name = kNginxBodySize;
    it = ann.find(kNginxBodySize);
  }
  if (it == ann.end()) {
    return std::nullopt;
  }
  const auto size = parseSize(trim(it->second));
  if (!size) {
    diagnostics.push_back(
        Diagnostic{Diagnostic::Severity::kError, "Ingress", ingress.meta.key(),
                   std::string("metadata.annotations[\"") + name + "\"]",
                   "\"" + it->second + "\" is not a size (like 8m, 1g, 64Mi or 0 for none)"});
    return std::nullopt;
  }
  return snapshot::BodyLimit{*size};
}

}  // namespace portico::config::annotations
