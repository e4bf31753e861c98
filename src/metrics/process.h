#pragma once
// The standard process_* metrics (as client_golang's process collector names them), read from
// /proc at each scrape, and portico_build_info.

#include "metrics/registry.h"

#include <optional>
#include <string>

namespace portico::metrics {

struct ProcessSample {
  double cpu_seconds = 0;  // user + system
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double start_time_seconds = 0;  // unix time
  double open_fds = 0;
  double max_fds = 0;
  int threads = 0;
};
// This process's, from /proc/self; nullopt where /proc cannot be read.
std::optional<ProcessSample> readProcess();
// Parses /proc/PID/stat's text (the command may hold spaces and parentheses); false if it does
// not have the fields. `boot_time` (unix seconds), `ticks` (per second) and `page` (bytes) turn
// its fields into the sample's units.
bool parseProcStat(const std::string& text, double boot_time, double ticks, double page,
                   ProcessSample& out);

// Registers the process_* collector and portico_build_info{version,revision} = 1.
void registerProcessMetrics(Registry& registry, const std::string& version,
                            const std::string& revision);

}  // namespace portico::metrics
