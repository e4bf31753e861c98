#pragma once
// Internal to the compiler: the processor of Ingress v1 objects. It selects the Ingresses that
// are ours, checks their rules, parses their annotations (one parser per family under
// annotations/) and feeds the Builder. Pure.

#include "config/builder.h"

#include <string>
#include <vector>

namespace portico::config {

// Feeds every Ingress of ours to `builder` (each one a source: Builder::addSource).
void processIngresses(Builder& builder);

}  // namespace portico::config
