#pragma once
// Every annotation portico knows, with where it applies and its status: the one list the user
// guide's table (docs/annotations.md, checked by a test) and the unknown-annotation warning
// are made from. A parser for each family lives beside this file.
// Pure; part of the compiler.

#include "config/compiler.h"
#include "model/types.h"

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace portico::config::annotations {

inline constexpr char kPorticoPrefix[] = "portico.dev/";
inline constexpr char kGroupOrder[] = "portico.dev/group.order";

// The portico.dev/ annotations of `meta`: they sort together, so one lookup finds them, and
// tells the many objects that have none (a find() per name would build a std::string each).
using AnnotationIterator = std::map<std::string, std::string>::const_iterator;
std::pair<AnnotationIterator, AnnotationIterator> porticoAnnotations(const model::ObjectMeta& meta);

struct AnnotationInfo {
  std::string_view name;     // full name; a family prefix ends with '.' ("portico.dev/actions.")
  std::string_view family;   // the parser: "conditions", "actions", "target-group", ...
  std::string_view applies;  // "Ingress" or "Ingress, Service"
  std::string_view status;   // "supported", or "alias of portico.dev/..." for ingress-nginx names
  std::string_view meaning;  // one line for the user guide
};

const std::vector<AnnotationInfo>& annotationTable();

// The table as the Markdown of docs/annotations.md.
std::string annotationTableMarkdown();

// A warning for each portico.dev/ annotation of `meta` that the table does not know (a typo
// would otherwise be silent). `kind` names the object.
void warnUnknown(const model::ObjectMeta& meta, const char* kind,
                 std::vector<Diagnostic>& diagnostics);

}  // namespace portico::config::annotations
