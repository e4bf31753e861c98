#include "k8s/leader_election.h"

#include "common/log.h"

#include <nlohmann/json.hpp>

#include <ctime>

namespace portico::k8s {

using nlohmann::json;

std::string microTimeNow() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
      1'000'000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(micros));
  return buf;
}

LeaderElector::LeaderElector(ApiClient& client, LeaderElectionOptions options,
                             std::function<void(bool)> on_change)
    : client_(client), options_(std::move(options)), on_change_(std::move(on_change)) {}

bool LeaderElector::sleepFor(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait_for(lock, d, [this] { return stop_.load(); });
  return !stop_;
}

void LeaderElector::setLeading(bool leading) {
  if (leading_.exchange(leading) != leading) {
    log::info(leading ? "became the leader" : "lost the leadership",
              {{"lease", options_.ns + "/" + options_.name}, {"identity", options_.identity}});
    on_change_(leading);
  }
}

bool LeaderElector::tryAcquireOrRenew() {
  const std::string path =
      "/apis/coordination.k8s.io/v1/namespaces/" + options_.ns + "/leases/" + options_.name;
  const int duration_s = static_cast<int>(
      std::chrono::duration_cast<std::chrono::seconds>(options_.lease_duration).count());
  const std::string now = microTimeNow();
  auto got = client_.request("GET", path);
  if (auto* failure = std::get_if<ApiFailure>(&got)) {
    if (failure->status != 404) {
      log::warn("leader election: cannot read the lease", {{"error", failure->toString()}});
      return false;
    }
    const json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                        {"kind", "Lease"},
                        {"metadata", {{"name", options_.name}, {"namespace", options_.ns}}},
                        {"spec",
                         {{"holderIdentity", options_.identity},
                          {"leaseDurationSeconds", duration_s},
                          {"acquireTime", now},
                          {"renewTime", now},
                          {"leaseTransitions", 0}}}};
    auto created = client_.request(
        "POST", "/apis/coordination.k8s.io/v1/namespaces/" + options_.ns + "/leases", lease.dump());
    return std::holds_alternative<ApiResponse>(created);
  }
  json lease;
  try {
    lease = json::parse(std::get<ApiResponse>(got).body);
  } catch (const json::exception&) {
    return false;
  }
  json& spec = lease["spec"];
  if (!spec.is_object()) {
    spec = json::object();
  }
  const std::string holder = spec.value("holderIdentity", "");
  const std::string record = holder + "|" + spec.value("renewTime", "");
  const auto steady_now = std::chrono::steady_clock::now();
  if (record != observed_record_) {
    observed_record_ = record;
    observed_at_ = steady_now;
  }
  const auto held_for = std::chrono::seconds(spec.value("leaseDurationSeconds", duration_s));
  if (!holder.empty() && holder != options_.identity && steady_now < observed_at_ + held_for) {
    return false;  // someone else holds a lease that is still alive
  }
  if (holder != options_.identity) {
    spec["acquireTime"] = now;
    spec["leaseTransitions"] = spec.value("leaseTransitions", 0) + 1;  // as client-go counts
  }
  spec["holderIdentity"] = options_.identity;
  spec["leaseDurationSeconds"] = duration_s;
  spec["renewTime"] = now;
  // The resourceVersion stays in the body: a concurrent writer makes this a 409, not a steal.
  auto updated = client_.request("PUT", path, lease.dump());
  if (auto* failure = std::get_if<ApiFailure>(&updated)) {
    if (failure->status != 409) {
      log::warn("leader election: cannot update the lease", {{"error", failure->toString()}});
    }
    return false;
  }
  return true;
}

void LeaderElector::run() {
  while (!stop_) {
    // Acquire: try every retry period until we hold the lease.
    while (!stop_ && !tryAcquireOrRenew()) {
      if (!sleepFor(options_.retry_period)) {
        return;
      }
    }
    if (stop_) {
      release();
      return;
    }
    setLeading(true);
    // Renew: every retry period; leadership ends when no renewal succeeded within the deadline.
    auto last_renew = std::chrono::steady_clock::now();
    while (sleepFor(options_.retry_period)) {
      if (tryAcquireOrRenew()) {
        last_renew = std::chrono::steady_clock::now();
      } else if (std::chrono::steady_clock::now() - last_renew > options_.renew_deadline) {
        break;
      }
    }
    // Stop acting as the leader before the lease is given up: a successor may take it the
    // moment it is released, and two leaders must never act at once.
    setLeading(false);
    if (stop_) {
      release();  // a successor need not wait the lease out
    }
  }
}

void LeaderElector::release() {
  const std::string path =
      "/apis/coordination.k8s.io/v1/namespaces/" + options_.ns + "/leases/" + options_.name;
  auto got = client_.request("GET", path);
  if (!std::holds_alternative<ApiResponse>(got)) {
    return;
  }
  try {
    json lease = json::parse(std::get<ApiResponse>(got).body);
    if (lease["spec"].value("holderIdentity", "") != options_.identity) {
      return;
    }
    // As client-go's ReleaseOnCancel: no holder, a one-second lease, times now.
    lease["spec"]["holderIdentity"] = "";
    lease["spec"]["leaseDurationSeconds"] = 1;
    lease["spec"]["renewTime"] = microTimeNow();
    client_.request("PUT", path, lease.dump());
  } catch (const json::exception&) {
  }
}

void LeaderElector::stop() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
}

}  // namespace portico::k8s
