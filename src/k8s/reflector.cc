#include "k8s/reflector.h"

#include "common/log.h"
#include "model/decode.h"

namespace portico::k8s {

using nlohmann::json;

std::string ResourceKind::collectionPath(const std::string& ns) const {
  const bool core = api_version.find('/') == std::string::npos;
  std::string path = core ? "/api/" + api_version : "/apis/" + api_version;
  if (namespaced && !ns.empty()) {
    path += "/namespaces/" + ns;
  }
  return path + "/" + plural;
}

const std::vector<ResourceKind>& watchedKinds() {
  static const std::vector<ResourceKind> kKinds = {
      {"IngressClass", "networking.k8s.io/v1", "ingressclasses", false},
      {"Ingress", "networking.k8s.io/v1", "ingresses", true},
      {"Service", "v1", "services", true},
      {"EndpointSlice", "discovery.k8s.io/v1", "endpointslices", true},
      {"Secret", "v1", "secrets", true},
  };
  return kKinds;
}

Reflector::Reflector(ApiClient& client, ResourceKind kind, std::string ns, ReflectorHandler handler,
                     std::uint64_t seed)
    : client_(client),
      kind_(std::move(kind)),
      ns_(std::move(ns)),
      handler_(std::move(handler)),
      rng_(seed) {}

void Reflector::stop() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
}

void Reflector::waitBackoff() {
  // Jitter up to 100 % of the delay, as client-go's wait.Jitter(delay, 1.0).
  std::uniform_real_distribution<double> jitter(1.0, 2.0);
  const auto delay = std::chrono::milliseconds(
      static_cast<std::int64_t>(static_cast<double>(backoff_.count()) * jitter(rng_)));
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait_for(lock, delay, [this] { return stop_.load(); });
  backoff_ = std::min(backoff_ * 2, kMaxBackoff);
}

std::optional<model::Object> Reflector::decode(json object) {
  // List items come without kind and apiVersion (a real server strips them).
  object["kind"] = kind_.kind;
  object["apiVersion"] = kind_.api_version;
  auto decoded = model::decodeObject(object);
  if (!decoded.ok()) {
    handler_.problem(kind_, "invalid " + kind_.kind + " from the API server: " + decoded.error());
    return std::nullopt;
  }
  if (!decoded->has_value()) {
    return std::nullopt;
  }
  return **decoded;
}

Reflector::ListResult Reflector::list() {
  std::vector<model::Object> objects;
  std::string cont;
  std::string list_rv;
  do {
    std::string path = kind_.collectionPath(ns_) + "?limit=" + std::to_string(kPageSize);
    if (!cont.empty()) {
      path += "&continue=" + urlEncode(cont);
    }
    auto r = client_.request("GET", path);
    if (auto* failure = std::get_if<ApiFailure>(&r)) {
      if (failure->status == 410) {
        return ListResult::kExpired;
      }
      handler_.problem(kind_, "list " + kind_.kind + ": " + failure->toString());
      return ListResult::kFailed;
    }
    try {
      // Each item is decoded as soon as it is parsed and its JSON dropped, so a list of 10,000
      // objects never becomes one JSON tree (several times the size of the objects, and
      // fragmenting the heap it is freed into).
      bool in_items = false;
      json body = json::parse(
          std::get<ApiResponse>(r).body, [&](int depth, json::parse_event_t event, json& parsed) {
            if (depth == 1 && event == json::parse_event_t::key) {
              in_items = parsed == "items";
            } else if (in_items && depth == 2 && event == json::parse_event_t::object_end) {
              if (auto obj = decode(std::move(parsed))) {
                objects.push_back(std::move(*obj));
              }
              return false;
            }
            return true;
          });
      const json& items = body.at("items");
      if (!items.is_array()) {
        handler_.problem(kind_,
                         "list " + kind_.kind + ": unreadable answer: items is not an array");
        return ListResult::kFailed;
      }
      // Objects were taken out as they were parsed: what is left is not an object. Applying
      // the rest would delete the objects those items stood for, so the list is tried again.
      if (!items.empty()) {
        handler_.problem(kind_, "list " + kind_.kind + ": unreadable answer: " +
                                    std::to_string(items.size()) + " items are not objects");
        return ListResult::kFailed;
      }
      const json& meta = body.at("metadata");
      list_rv = meta.value("resourceVersion", "");
      cont = meta.value("continue", "");
    } catch (const json::exception& e) {
      handler_.problem(kind_, "list " + kind_.kind + ": unreadable answer: " + e.what());
      return ListResult::kFailed;
    }
  } while (!cont.empty() && !stop_);
  rv_ = list_rv;
  lists_.fetch_add(1);
  if (handler_.listed) {
    handler_.listed(kind_);
  }
  synced_ = true;  // before replace(): the handler decides there whether every kind has synced
  handler_.replace(kind_, std::move(objects));
  return ListResult::kOk;
}

void Reflector::handleLine(std::string_view line, bool* saw_event) {
  json event;
  try {
    event = json::parse(line);
  } catch (const json::exception& e) {
    handler_.problem(kind_, "watch " + kind_.kind + ": unreadable event: " + e.what());
    return;
  }
  const std::string type = event.value("type", "");
  if (handler_.event) {
    handler_.event(kind_, type);
  }
  json& object = event["object"];
  if (type == "ERROR") {
    const int code = object.value("code", 0);
    handler_.problem(kind_, "watch " + kind_.kind + ": " + std::to_string(code) + " " +
                                object.value("reason", "") + ": " + object.value("message", ""));
    relist_ = true;
    return;
  }
  *saw_event = true;
  const std::string rv = object.is_object() && object.contains("metadata")
                             ? object["metadata"].value("resourceVersion", "")
                             : "";
  if (type == "BOOKMARK") {
    if (!rv.empty()) {
      rv_ = rv;
    }
    return;
  }
  if (type != "ADDED" && type != "MODIFIED" && type != "DELETED") {
    handler_.problem(kind_, "watch " + kind_.kind + ": unknown event type \"" + type + "\"");
    return;
  }
  if (auto obj = decode(std::move(object))) {
    if (type == "DELETED") {
      handler_.remove(*obj);
    } else {
      handler_.upsert(*obj);
    }
  }
  if (!rv.empty()) {
    rv_ = rv;
  }
}

bool Reflector::watch() {
  std::uniform_int_distribution<int> seconds(kMinWatchSeconds, kMaxWatchSeconds - 1);
  const int timeout = seconds(rng_);
  const std::string path = kind_.collectionPath(ns_) + "?watch=1&allowWatchBookmarks=true" +
                           "&resourceVersion=" + urlEncode(rv_) +
                           "&timeoutSeconds=" + std::to_string(timeout);
  const auto started = std::chrono::steady_clock::now();
  bool saw_event = false;
  // The idle timeout must exceed the longest quiet stretch: the whole watch, plus a margin.
  auto r = client_.stream(
      path, [&](std::string_view line) { handleLine(line, &saw_event); },
      std::chrono::seconds(timeout + 30));
  if (stop_) {
    return true;
  }
  if (auto* failure = std::get_if<ApiFailure>(&r)) {
    if (failure->status == 410) {
      relist_ = true;
      return true;
    }
    handler_.problem(kind_, "watch " + kind_.kind + ": " + failure->toString());
    return false;
  }
  const auto lasted = std::chrono::steady_clock::now() - started;
  if (relist_) {
    return true;  // an ERROR event asked for a relist
  }
  if (lasted >= kBackoffReset) {
    backoff_ = kInitialBackoff;
  }
  if (lasted < std::chrono::seconds(1) && !saw_event) {
    handler_.problem(kind_, "watch " + kind_.kind + ": ended at once without events");
    return false;
  }
  return true;
}

void Reflector::run() {
  while (!stop_) {
    if (relist_) {
      switch (list()) {
        case ListResult::kOk:
          relist_ = false;
          break;
        case ListResult::kExpired:
          handler_.problem(kind_, "list " + kind_.kind + ": 410 Expired without a resourceVersion");
          waitBackoff();
          continue;
        case ListResult::kFailed:
          waitBackoff();
          continue;
      }
    }
    if (!watch()) {
      waitBackoff();
    }
  }
}

}  // namespace portico::k8s
