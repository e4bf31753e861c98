#include "controller/controller.h"
#include "common/memory.h"

#include "common/log.h"

#include <cctype>
#include <map>

#ifdef __GLIBC__
#endif

namespace portico::controller {

Controller::Controller(config::Options options, Publish publish, metrics::Registry& registry,
                       Debounce debounce)
    : options_(std::move(options)),
      publish_(std::move(publish)),
      debounce_(debounce),
      registry_(registry),
      source_errors_gauge_(registry.gauge("portico_source_errors",
                                          "Manifest files or objects that could not be read.")),
      generation_gauge_(registry.gauge("portico_config_generation",
                                       "Snapshots published since start (the proxy's config).")),
      last_success_(registry.gauge("portico_config_last_success_timestamp_seconds",
                                   "When the last snapshot was published (unix seconds).")),
      compile_duration_(registry.histogram("portico_config_compile_duration_seconds",
                                           "Full compiles of the cluster state into a snapshot.",
                                           metrics::timeBuckets())),
      compiles_(registry.counter("portico_config_compiles_total", "Compiles run.")),
      endpoint_update_duration_(registry.histogram(
          "portico_config_endpoint_update_duration_seconds",
          "Snapshots built for EndpointSlice changes alone (routes kept, endpoints rebuilt).",
          metrics::timeBuckets())),
      endpoint_updates_(registry.counter(
          "portico_config_endpoint_updates_total",
          "Snapshots that changed endpoints only, on the routes of the one before.")) {
  registry_.replaceGauges("portico_config_diagnostics",
                          "Problems found by the last compile (rules left out), by reason.", {});
}

namespace {
// A diagnostic's reason label: its kind and field with indexes dropped, and an annotation by
// its name, NAME of conditions.NAME and actions.NAME folded: bounded by the schema, not by the
// objects ("ingress:spec.rules.http.paths.path", "ingress:portico.dev/actions.*").
std::string diagnosticReason(const config::Diagnostic& d) {
  std::string out;
  for (char c : d.kind) {
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  out += ':';
  const std::string& f = d.field;
  if (f.empty()) {
    return out + "object";
  }
  static constexpr std::string_view kAnnotations = "metadata.annotations[\"";
  if (f.rfind(kAnnotations, 0) == 0) {
    std::string name =
        f.substr(kAnnotations.size(), f.find('"', kAnnotations.size()) - kAnnotations.size());
    for (const char* family : {"conditions.", "actions."}) {
      const std::size_t at = name.find(family);
      if (at != std::string::npos) {
        name = name.substr(0, at + std::string_view(family).size()) + "*";
      }
    }
    return out + name;
  }
  bool in_index = false;
  for (char c : f) {
    if (c == '[') {
      in_index = true;
    } else if (c == ']') {
      in_index = false;
    } else if (!in_index) {
      out += c;
    }
  }
  return out;
}
}  // namespace

void Controller::observe(std::chrono::steady_clock::time_point started,
                         metrics::Histogram& duration) {
  duration.observe(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                  std::chrono::steady_clock::now() - started)
                                                  .count()));
}

void Controller::published() {
  last_success_.set(std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count());
}

Controller::~Controller() { stop(); }

void Controller::start() {
  resolver_ = std::make_unique<dns::Resolver>(resolver_options_, [this] {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      resolved_dirty_ = true;
    }
    cv_.notify_all();
  });
  thread_ = std::thread([this] { run(); });
}

void Controller::stop() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
  resolver_.reset();  // its thread ends; a last callback only sets a flag
}

void Controller::setState(model::ClusterState state, std::vector<std::string> source_errors) {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    pending_ = std::move(state);
    pending_errors_ = std::move(source_errors);
    const auto now = std::chrono::steady_clock::now();
    if (!dirty_) {
      first_change_ = now;
    }
    last_change_ = now;
    dirty_ = true;
  }
  cv_.notify_all();
}

void Controller::markSynced() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    synced_ = true;
  }
  cv_.notify_all();
}

std::uint64_t Controller::generation() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return generation_;
}

std::vector<config::Diagnostic> Controller::diagnostics() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return diagnostics_;
}

void Controller::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    const auto wake = [this] {
      return stopping_ || (dirty_ && synced_) || (resolved_dirty_ && compiled_once_);
    };
    if (check_secrets_ && compiled_once_) {
      if (!cv_.wait_until(lock, next_recheck_, wake)) {
        next_recheck_ = std::chrono::steady_clock::now() + debounce_.secret_recheck;
        lock.unlock();
        recheckSecrets();
        lock.lock();
        continue;
      }
    } else {
      cv_.wait(lock, wake);
    }
    if (stopping_) {
      return;
    }
    if (resolved_dirty_ && compiled_once_ && !dirty_) {
      resolved_dirty_ = false;
      lock.unlock();
      log::info("an ExternalName resolved to other addresses: recompiling");
      compileAndPublish(compiled_state_, compiled_errors_, /*force=*/true);
      lock.lock();
      continue;
    }
    resolved_dirty_ = false;  // the compile below takes the new addresses too
    // Holdoff: wait for a quiet period, bounded by max_delay from the first change. A change
    // after a quiet spell is compiled at once (leading edge): a lone EndpointSlice update should
    // not wait out the holdoff meant for bursts.
    const bool after_quiet = first_change_ - last_compile_ >= debounce_.quiet;
    while (!stopping_ && !after_quiet) {
      const auto deadline =
          std::min(last_change_ + debounce_.quiet, first_change_ + debounce_.max_delay);
      if (std::chrono::steady_clock::now() >= deadline) {
        break;
      }
      cv_.wait_until(lock, deadline);
    }
    if (stopping_) {
      return;
    }
    model::ClusterState state = std::move(pending_);
    std::vector<std::string> errors = std::move(pending_errors_);
    dirty_ = false;
    lock.unlock();
    compileAndPublish(state, errors);
    lock.lock();
    last_compile_ = std::chrono::steady_clock::now();
  }
}

void Controller::recheckSecrets() {
  if (check_secrets_(compiled_state_) == compiled_checks_) {
    return;
  }
  log::info("a certificate check changed without an object changing (expiry): recompiling");
  compileAndPublish(compiled_state_, compiled_errors_, /*force=*/true);
}

void Controller::compileAndPublish(const model::ClusterState& state,
                                   const std::vector<std::string>& errors, bool force) {
  std::set<std::string> now_logged;
  for (const auto& e : errors) {
    if (logged_.count("source:" + e) == 0) {
      log::warn("manifest problem", {{"error", e}});
    }
    now_logged.insert("source:" + e);
  }
  source_errors_gauge_.set(static_cast<std::int64_t>(errors.size()));
  if (compiled_once_ && !force && state == compiled_state_) {
    for (const auto& d : diagnostics()) {
      now_logged.insert(d.toString());
    }
    logged_ = std::move(now_logged);
    return;
  }
  const auto started = std::chrono::steady_clock::now();
  if (compiled_once_ && !force && config::onlyEndpointsDiffer(state, compiled_state_)) {
    auto snapshot = std::make_shared<const snapshot::Snapshot>(
        config::recompileEndpoints(*compiled_snapshot_, compiled_sources_, state));
    endpoint_updates_.inc();
    observe(started, endpoint_update_duration_);
    for (const auto& d : diagnostics()) {
      now_logged.insert(d.toString());
    }
    logged_ = std::move(now_logged);
    publish_(snapshot);
    published();
    // Ingress status and Events do not depend on endpoints: the observer has nothing new.
    compiled_state_ = state;
    compiled_snapshot_ = std::move(snapshot);
    const std::lock_guard<std::mutex> lock(mutex_);
    ++generation_;
    generation_gauge_.set(static_cast<std::int64_t>(generation_));
    return;
  }
  config::Options options = options_;
  if (check_secrets_) {
    options.secret_checks = check_secrets_(state);
  }
  if (resolver_ != nullptr) {
    options.resolved = resolver_->results();
  }
  config::CompileResult result = config::compile(state, options);
  if (resolver_ != nullptr) {
    resolver_->watch(result.external_names);
  }
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
  compiles_.inc();
  observe(started, compile_duration_);
  for (const auto& d : result.diagnostics) {
    const std::string line = d.toString();
    if (logged_.count(line) == 0) {
      log::warn("configuration problem",
                {{"kind", d.kind}, {"object", d.object}, {"field", d.field}, {"error", d.message}});
    }
    now_logged.insert(line);
  }
  logged_ = std::move(now_logged);
  std::map<std::string, std::int64_t> reasons;
  for (const auto& d : result.diagnostics) {
    ++reasons[diagnosticReason(d)];
  }
  std::vector<std::pair<metrics::Labels, std::int64_t>> rows;
  for (const auto& [reason, n] : reasons) {
    rows.push_back({{{"reason", reason}}, n});
  }
  registry_.replaceGauges("portico_config_diagnostics",
                          "Problems found by the last compile (rules left out), by reason.", rows);
  auto snapshot = std::make_shared<const snapshot::Snapshot>(std::move(result.snapshot));
  log::info("snapshot compiled", {{"ingresses", result.ingresses.size()},
                                  {"routes", snapshot->routeCount()},
                                  {"targetGroups", snapshot->targetGroups().size()},
                                  {"diagnostics", result.diagnostics.size()},
                                  {"compileMicroseconds", micros}});
  publish_(snapshot);
  published();
  if (observer_) {
    observer_(state, result.ingresses, result.diagnostics);
  }
  compiled_state_ = state;
  compiled_errors_ = errors;
  compiled_checks_ = std::move(options.secret_checks);
  compiled_snapshot_ = snapshot;
  compiled_sources_ = std::move(result.target_group_sources);
  if (!compiled_once_) {
    const std::lock_guard<std::mutex> lock(mutex_);
    next_recheck_ = std::chrono::steady_clock::now() + debounce_.secret_recheck;
  }
  compiled_once_ = true;
  // A compile of 10,000 Ingresses frees tens of megabytes of working maps; give the pages
  // back instead of keeping them in this thread's arena (a few ms, after full compiles only).
  releaseFreedMemory();
  const std::lock_guard<std::mutex> lock(mutex_);
  diagnostics_ = std::move(result.diagnostics);
  ++generation_;
  generation_gauge_.set(static_cast<std::int64_t>(generation_));
}

}  // namespace portico::controller
