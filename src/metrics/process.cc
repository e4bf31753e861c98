#include "metrics/process.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <vector>

namespace portico::metrics {

namespace {
std::string slurp(const char* path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

double bootTime() {
  std::istringstream in(slurp("/proc/stat"));
  std::string key;
  while (in >> key) {
    if (key == "btime") {
      double t = 0;
      in >> t;
      return t;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

double openFds() {
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) {
    return 0;
  }
  double n = 0;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') {
      ++n;
    }
  }
  ::closedir(d);
  return n - 1;  // the directory's own descriptor
}
}  // namespace

bool parseProcStat(const std::string& text, double boot_time, double ticks, double page,
                   ProcessSample& out) {
  // "pid (comm) state ppid ...": the fields after the last ')' are space-separated.
  const std::size_t close = text.rfind(')');
  if (close == std::string::npos) {
    return false;
  }
  std::istringstream in(text.substr(close + 1));
  std::vector<std::string> f;
  std::string field;
  while (in >> field) {
    f.push_back(field);
  }
  // f[0] is field 3 (state): utime is field 14, stime 15, num_threads 20, starttime 22,
  // vsize 23, rss 24.
  if (f.size() < 22) {
    return false;
  }
  try {
    out.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;
    out.threads = std::stoi(f[17]);
    out.start_time_seconds = boot_time + std::stod(f[19]) / ticks;
    out.virtual_bytes = std::stod(f[20]);
    out.resident_bytes = std::stod(f[21]) * page;
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

std::optional<ProcessSample> readProcess() {
  ProcessSample s;
  static const double boot = bootTime();
  if (!parseProcStat(slurp("/proc/self/stat"), boot, static_cast<double>(::sysconf(_SC_CLK_TCK)),
                     static_cast<double>(::sysconf(_SC_PAGESIZE)), s)) {
    return std::nullopt;
  }
  s.open_fds = openFds();
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    s.max_fds = static_cast<double>(lim.rlim_cur);
  }
  return s;
}

void registerProcessMetrics(Registry& registry, const std::string& version,
                            const std::string& revision) {
  registry
      .gauge("portico_build_info", "portico's version and source revision; always 1.",
             {{"version", version}, {"revision", revision}})
      .set(1);
  registry.addCollector([](Exposition& out) {
    const auto s = readProcess();
    if (!s) {
      return;
    }
    out.family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
               Type::kCounter);
    out.sample("", s->cpu_seconds);
    out.family("process_open_fds", "Number of open file descriptors.", Type::kGauge);
    out.sample("", s->open_fds);
    out.family("process_max_fds", "Maximum number of open file descriptors.", Type::kGauge);
    out.sample("", s->max_fds);
    out.family("process_virtual_memory_bytes", "Virtual memory size in bytes.", Type::kGauge);
    out.sample("", s->virtual_bytes);
    out.family("process_resident_memory_bytes", "Resident memory size in bytes.", Type::kGauge);
    out.sample("", s->resident_bytes);
    out.family("process_start_time_seconds",
               "Start time of the process since unix epoch in seconds.", Type::kGauge);
    out.sample("", s->start_time_seconds);
    out.family("process_threads", "Number of OS threads in the process.", Type::kGauge);
    out.sample("", static_cast<std::int64_t>(s->threads));
  });
}

}  // namespace portico::metrics
