#pragma once
// Wiring: sources, controller, proxy, admin. Runs until SIGTERM/SIGINT, then drains.

#include "app/flags.h"

namespace portico::app {

// Returns the process exit status. Must be called from the main thread before any other
// thread exists (it blocks the termination signals for every thread it starts).
int run(const Flags& flags);

}  // namespace portico::app
