#include "k8s/status_writer.h"

#include "common/log.h"
#include "common/strings.h"
#include "k8s/leader_election.h"

#include <boost/asio/ip/address.hpp>
#include <nlohmann/json.hpp>

namespace portico::k8s {

using nlohmann::json;

namespace {
constexpr std::chrono::seconds kMinBackoff{1};
constexpr std::chrono::seconds kMaxBackoff{60};

bool isIp(const std::string& s) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(s, ec);
  return !ec;
}

json toJson(const std::vector<model::LoadBalancerIngress>& lb) {
  json out = json::array();
  for (const auto& e : lb) {
    json item = json::object();
    if (!e.ip.empty()) {
      item["ip"] = e.ip;
    }
    if (!e.hostname.empty()) {
      item["hostname"] = e.hostname;
    }
    out.push_back(item);
  }
  return out;
}
}  // namespace

StatusWriter::StatusWriter(ApiConfig config, StatusOptions options, metrics::Registry& registry)
    : client_(std::move(config)),
      options_(std::move(options)),
      status_writes_(
          registry.counter("portico_status_writes_total", "Ingress status updates written.")),
      event_writes_(registry.counter("portico_events_written_total", "Kubernetes Events written.")),
      failures_(
          registry.counter("portico_status_write_failures_total",
                           "Status or Event writes that failed (tried again with backoff).")) {}

StatusWriter::~StatusWriter() { stop(); }

void StatusWriter::start() {
  thread_ = std::thread([this] { run(); });
}

void StatusWriter::stop() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void StatusWriter::setLeading(bool leading) {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    leading_ = leading;
    dirty_ = true;
  }
  cv_.notify_all();
}

void StatusWriter::update(const model::ClusterState& state, const std::vector<std::string>& ours,
                          const std::vector<config::Diagnostic>& diagnostics) {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    state_ = state;
    ours_ = ours;
    diagnostics_ = diagnostics;
    dirty_ = true;
  }
  cv_.notify_all();
}

std::vector<model::LoadBalancerIngress> StatusWriter::addresses(const StatusOptions& options,
                                                                const model::ClusterState& state) {
  std::vector<model::LoadBalancerIngress> out;
  if (!options.publish_addresses.empty()) {
    for (const auto& a : options.publish_addresses) {
      out.push_back(isIp(a) ? model::LoadBalancerIngress{a, ""}
                            : model::LoadBalancerIngress{"", a});
    }
    return out;
  }
  if (options.publish_service.empty()) {
    return out;
  }
  auto it = state.services.find(options.publish_service);
  if (it == state.services.end()) {
    return out;
  }
  if (!it->second.load_balancer.empty()) {
    return it->second.load_balancer;
  }
  if (!it->second.cluster_ip.empty() && it->second.cluster_ip != "None") {
    out.push_back({it->second.cluster_ip, ""});
  }
  return out;
}

bool StatusWriter::pass() {
  model::ClusterState state;
  std::vector<std::string> ours;
  std::vector<config::Diagnostic> diagnostics;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    state = state_;
    ours = ours_;
    diagnostics = diagnostics_;
    dirty_ = false;
  }
  bool ok = true;
  auto patchStatus = [&](const model::Ingress& ing,
                         const std::vector<model::LoadBalancerIngress>& lb) {
    const json patch = {{"status", {{"loadBalancer", {{"ingress", toJson(lb)}}}}}};
    auto r = client_.request("PATCH",
                             "/apis/networking.k8s.io/v1/namespaces/" + ing.meta.namespace_ +
                                 "/ingresses/" + ing.meta.name + "/status",
                             patch.dump(), "application/merge-patch+json");
    if (auto* failure = std::get_if<ApiFailure>(&r)) {
      if (failure->status != 404) {  // gone meanwhile: nothing to do
        failures_.inc();
        log::warn("cannot write Ingress status",
                  {{"ingress", ing.meta.key()}, {"error", failure->toString()}});
        ok = false;
      }
      return;
    }
    status_writes_.inc();
    writes_.fetch_add(1);
  };
  const auto want = addresses(options_, state);
  const std::set<std::string> ours_now(ours.begin(), ours.end());
  if (!want.empty() || !options_.publish_addresses.empty() || !options_.publish_service.empty()) {
    for (const auto& key : ours) {
      auto it = state.ingresses.find(key);
      if (it != state.ingresses.end() && it->second.load_balancer != want) {
        patchStatus(it->second, want);
      }
    }
  }
  for (const auto& key : previously_ours_) {
    auto it = state.ingresses.find(key);
    if (ours_now.count(key) == 0 && it != state.ingresses.end() &&
        !it->second.load_balancer.empty()) {
      patchStatus(it->second, {});  // it left our class: its status is not ours to keep
    }
  }
  previously_ours_ = ours_now;

  for (const auto& d : diagnostics) {
    // Events go to the object a diagnostic names: an Ingress, or a Service (its backend
    // annotations). Flags' problems ("Controller") are only logged.
    const bool on_service = d.kind == "Service";
    if ((d.kind != "Ingress" && !on_service) ||
        evented_.count(d.kind + "|" + d.object + "|" + d.field + "|" + d.message) != 0) {
      continue;
    }
    const auto slash = d.object.find('/');
    const std::string ns = d.object.substr(0, slash);
    const std::string name = d.object.substr(slash + 1);
    std::string uid;
    if (on_service) {
      if (auto svc = state.services.find(d.object); svc != state.services.end()) {
        uid = svc->second.meta.uid;
      }
    } else if (auto ing = state.ingresses.find(d.object); ing != state.ingresses.end()) {
      uid = ing->second.meta.uid;
    }
    const std::string now = microTimeNow();
    const std::string seconds = now.substr(0, 19) + "Z";
    const json event = {
        {"apiVersion", "v1"},
        {"kind", "Event"},
        {"metadata", {{"generateName", name + "."}, {"namespace", ns}}},
        {"involvedObject",
         {{"kind", d.kind},
          {"apiVersion", on_service ? "v1" : "networking.k8s.io/v1"},
          {"namespace", ns},
          {"name", name},
          {"uid", uid}}},
        {"reason",
         d.severity == config::Diagnostic::Severity::kError ? "InvalidConfiguration" : "Conflict"},
        {"message", (d.field.empty() ? "" : d.field + ": ") + d.message},
        {"type", "Warning"},
        {"source", {{"component", "portico"}}},
        {"reportingComponent", "portico.dev/ingress-controller"},
        {"reportingInstance", options_.identity},
        {"firstTimestamp", seconds},
        {"lastTimestamp", seconds},
        {"count", 1}};
    auto r = client_.request("POST", "/api/v1/namespaces/" + ns + "/events", event.dump());
    if (auto* failure = std::get_if<ApiFailure>(&r)) {
      failures_.inc();
      log::warn("cannot write an Event",
                {{"kind", d.kind}, {"object", d.object}, {"error", failure->toString()}});
      ok = false;
      continue;
    }
    event_writes_.inc();
    evented_.insert(d.kind + "|" + d.object + "|" + d.field + "|" + d.message);
  }
  return ok;
}

void StatusWriter::run() {
  auto backoff = std::chrono::duration_cast<std::chrono::milliseconds>(kMinBackoff);
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [this] { return stop_ || (dirty_ && leading_); });
      if (stop_) {
        return;
      }
    }
    if (pass()) {
      backoff = kMinBackoff;
      continue;
    }
    // Something failed: try the whole pass again later, whether or not anything changed.
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait_for(lock, backoff, [this] { return stop_; });
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, kMaxBackoff);
    dirty_ = true;
  }
}

}  // namespace portico::k8s
