#include "apiserver/store.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <random>

namespace portico::apiserver {

namespace {

std::string nowRfc3339() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t");
  const auto e = s.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// Splits on commas outside parentheses.
std::vector<std::string> splitTop(const std::string& s) {
  std::vector<std::string> out;
  int depth = 0;
  std::string cur;
  for (char c : s) {
    if (c == '(') {
      ++depth;
    } else if (c == ')') {
      --depth;
    }
    if (c == ',' && depth == 0) {
      out.push_back(trim(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!trim(cur).empty()) {
    out.push_back(trim(cur));
  }
  return out;
}

bool validLabelKey(const std::string& k) {
  if (k.empty() || k.size() > 316) {
    return false;
  }
  return std::all_of(k.begin(), k.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.' ||
           c == '/';
  });
}

}  // namespace

const std::vector<ResourceType>& resourceTypes() {
  static const std::vector<ResourceType> kTypes = {
      {"networking.k8s.io", "v1", "ingresses", "Ingress", "ingress", {"ing"}, true, true, true},
      {"networking.k8s.io",
       "v1",
       "ingressclasses",
       "IngressClass",
       "ingressclass",
       {},
       false,
       false,
       true},
      {"", "v1", "services", "Service", "service", {"svc"}, true, true, true},
      {"discovery.k8s.io",
       "v1",
       "endpointslices",
       "EndpointSlice",
       "endpointslice",
       {},
       true,
       false,
       true},
      {"", "v1", "secrets", "Secret", "secret", {}, true, false, true},
      {"", "v1", "configmaps", "ConfigMap", "configmap", {"cm"}, true, false, true},
      {"coordination.k8s.io", "v1", "leases", "Lease", "lease", {}, true, false, false},
      {"", "v1", "events", "Event", "event", {"ev"}, true, false, true},
      {"", "v1", "namespaces", "Namespace", "namespace", {"ns"}, false, true, true},
      {"", "v1", "pods", "Pod", "pod", {"po"}, true, true, true},
  };
  return kTypes;
}

const ResourceType* findResource(const std::string& group, const std::string& version,
                                 const std::string& resource) {
  for (const auto& rt : resourceTypes()) {
    if (rt.group == group && rt.version == version && rt.resource == resource) {
      return &rt;
    }
  }
  return nullptr;
}

json statusError(int code, const std::string& reason, const std::string& message,
                 const json& details) {
  json s = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
            {"status", "Failure"}, {"message", message}, {"reason", reason},
            {"code", code}};
  if (!details.is_null()) {
    s["details"] = details;
  }
  return s;
}

// ---- selectors ---------------------------------------------------------------------------

std::optional<Selector> Selector::parseLabels(const std::string& text, std::string* error) {
  Selector sel;
  for (const std::string& part : splitTop(text)) {
    Requirement r;
    std::size_t pos;
    if (part.size() > 1 && part[0] == '!') {
      r.key = trim(part.substr(1));
      r.op = Requirement::Op::kNotExists;
    } else if ((pos = part.find(" notin ")) != std::string::npos ||
               (pos = part.find(" in ")) != std::string::npos) {
      const bool notin = part.compare(pos, 7, " notin ") == 0;
      r.key = trim(part.substr(0, pos));
      std::string rest = trim(part.substr(pos + (notin ? 7 : 4)));
      if (rest.size() < 2 || rest.front() != '(' || rest.back() != ')') {
        *error = "unable to parse requirement: \"" + part + "\": expected a (value,...) set";
        return std::nullopt;
      }
      for (const auto& v : splitTop(rest.substr(1, rest.size() - 2))) {
        r.values.push_back(v);
      }
      r.op = notin ? Requirement::Op::kNotIn : Requirement::Op::kIn;
    } else if ((pos = part.find("!=")) != std::string::npos) {
      r.key = trim(part.substr(0, pos));
      r.values = {trim(part.substr(pos + 2))};
      r.op = Requirement::Op::kNotEq;
    } else if ((pos = part.find("==")) != std::string::npos) {
      r.key = trim(part.substr(0, pos));
      r.values = {trim(part.substr(pos + 2))};
      r.op = Requirement::Op::kEq;
    } else if ((pos = part.find('=')) != std::string::npos) {
      r.key = trim(part.substr(0, pos));
      r.values = {trim(part.substr(pos + 1))};
      r.op = Requirement::Op::kEq;
    } else {
      r.key = part;
      r.op = Requirement::Op::kExists;
    }
    if (!validLabelKey(r.key)) {
      *error = "unable to parse requirement: \"" + part + "\": invalid label key";
      return std::nullopt;
    }
    sel.requirements_.push_back(std::move(r));
  }
  return sel;
}

std::optional<Selector> Selector::parseFields(const std::string& text, const ResourceType& rt,
                                              std::string* error) {
  Selector sel;
  sel.fields_ = true;
  for (const std::string& part : splitTop(text)) {
    Requirement r;
    std::size_t pos;
    if ((pos = part.find("!=")) != std::string::npos) {
      r.op = Requirement::Op::kNotEq;
      r.key = trim(part.substr(0, pos));
      r.values = {trim(part.substr(pos + 2))};
    } else if ((pos = part.find("==")) != std::string::npos) {
      r.op = Requirement::Op::kEq;
      r.key = trim(part.substr(0, pos));
      r.values = {trim(part.substr(pos + 2))};
    } else if ((pos = part.find('=')) != std::string::npos) {
      r.op = Requirement::Op::kEq;
      r.key = trim(part.substr(0, pos));
      r.values = {trim(part.substr(pos + 1))};
    } else {
      *error = "invalid selector: '" + part + "'; can't understand '" + part + "'";
      return std::nullopt;
    }
    if (r.key != "metadata.name" && r.key != "metadata.namespace" &&
        !(rt.kind == "Secret" && r.key == "type")) {
      *error = "field label not supported: " + r.key;
      return std::nullopt;
    }
    sel.requirements_.push_back(std::move(r));
  }
  return sel;
}

bool Selector::matches(const json& object) const {
  for (const auto& r : requirements_) {
    std::optional<std::string> value;
    if (fields_) {
      const bool in_meta = r.key == "metadata.name" || r.key == "metadata.namespace";
      const json& holder = in_meta && object.contains("metadata") ? object["metadata"] : object;
      const auto it = holder.find(in_meta ? r.key.substr(9) : r.key);
      value = (it != holder.end() && it->is_string()) ? it->get<std::string>() : std::string();
    } else {
      const json labels = object.value("metadata", json::object()).value("labels", json::object());
      if (auto it = labels.find(r.key); it != labels.end() && it->is_string()) {
        value = it->get<std::string>();
      }
    }
    const auto in = [&] {
      return value && std::find(r.values.begin(), r.values.end(), *value) != r.values.end();
    };
    switch (r.op) {
      case Requirement::Op::kEq:
      case Requirement::Op::kIn:
        if (!in()) {
          return false;
        }
        break;
      case Requirement::Op::kNotEq:
      case Requirement::Op::kNotIn:
        if (in()) {
          return false;
        }
        break;
      case Requirement::Op::kExists:
        if (!value) {
          return false;
        }
        break;
      case Requirement::Op::kNotExists:
        if (value) {
          return false;
        }
        break;
    }
  }
  return true;
}

// ---- patches ------------------------------------------------------------------------------

json mergePatch(json target, const json& patch) {
  target.merge_patch(patch);
  return target;
}

namespace {
// Lists merged element by element in a strategic merge patch, and their merge key.
const char* mergeKey(const std::string& path) {
  if (path == "spec.ports") {
    return "port";
  }
  if (path == "metadata.ownerReferences") {
    return "uid";
  }
  if (path == "spec.containers" || path == "spec.initContainers" || path == "spec.volumes") {
    return "name";
  }
  return nullptr;
}
}  // namespace

json strategicMergePatch(json target, const json& patch, const std::string& path) {
  if (!patch.is_object()) {
    return patch;
  }
  if (patch.value("$patch", "") == "replace") {
    json replaced = patch;
    replaced.erase("$patch");
    return replaced;
  }
  if (!target.is_object()) {
    target = json::object();
  }
  for (const auto& [key, value] : patch.items()) {
    if (!key.empty() && key[0] == '$') {
      continue;  // $setElementOrder/..., $retainKeys, $deleteFromPrimitiveList/...: directives
    }
    const std::string child = path.empty() ? key : path + "." + key;
    if (value.is_null()) {
      target.erase(key);
    } else if (value.is_object()) {
      target[key] = strategicMergePatch(target.contains(key) ? target[key] : json(), value, child);
    } else if (value.is_array() && mergeKey(child) != nullptr && target.contains(key) &&
               target[key].is_array()) {
      const std::string mk = mergeKey(child);
      json merged = target[key];
      for (const auto& item : value) {
        if (!item.is_object() || !item.contains(mk)) {
          merged.push_back(item);
          continue;
        }
        auto it = std::find_if(merged.begin(), merged.end(), [&](const json& existing) {
          return existing.is_object() && existing.value(mk, json()) == item[mk];
        });
        if (item.value("$patch", "") == "delete") {
          if (it != merged.end()) {
            merged.erase(it);
          }
        } else if (it != merged.end()) {
          *it = strategicMergePatch(*it, item, child);
        } else {
          json added = item;
          added.erase("$patch");
          merged.push_back(added);
        }
      }
      // $setElementOrder/<key> gives the final order.
      const auto order = patch.find("$setElementOrder/" + key);
      if (order != patch.end() && order->is_array()) {
        json ordered = json::array();
        for (const auto& o : *order) {
          auto it = std::find_if(merged.begin(), merged.end(), [&](const json& e) {
            return e.is_object() && e.value(mk, json()) == o.value(mk, json());
          });
          if (it != merged.end()) {
            ordered.push_back(*it);
            merged.erase(it);
          }
        }
        for (auto& rest : merged) {
          ordered.push_back(rest);
        }
        merged = ordered;
      }
      target[key] = merged;
    } else {
      target[key] = value;
    }
  }
  return target;
}

std::optional<json> jsonPatch(json target, const json& patch, std::string* error) {
  try {
    return target.patch(patch);
  } catch (const json::exception& e) {
    *error = e.what();
    return std::nullopt;
  }
}

// ---- store --------------------------------------------------------------------------------

Store::Store(std::size_t history_limit) : history_limit_(history_limit) {}

std::string Store::key(const ResourceType& rt, const std::string& ns, const std::string& name) {
  return rt.qualified() + "/" + (rt.namespaced ? ns : std::string()) + "/" + name;
}

Outcome Store::notFound(const ResourceType& rt, const std::string& name) const {
  return {404, statusError(404, "NotFound", rt.qualified() + " \"" + name + "\" not found",
                           {{"name", name}, {"group", rt.group}, {"kind", rt.resource}})};
}

void Store::record(const ResourceType& rt, std::string type, json object, json old_object) {
  history_.push_back(
      WatchEvent{rv_, std::move(type), &rt, std::move(object), std::move(old_object)});
  while (history_.size() > history_limit_) {
    compacted_rv_ = history_.front().rv;
    history_.pop_front();
  }
  if (listener_) {
    listener_(history_.back());
  }
}

Outcome Store::create(const ResourceType& rt, const std::string& ns, json object) {
  if (!object.is_object()) {
    return {400, statusError(400, "BadRequest", "the body must be a JSON object")};
  }
  json& meta = object["metadata"];
  if (!meta.is_object()) {
    meta = json::object();
  }
  std::string name = meta.value("name", "");
  if (name.empty() && meta.contains("generateName")) {
    static std::mt19937 rng(std::random_device{}());
    static constexpr char kChars[] = "bcdfghjklmnpqrstvwxz2456789";
    name = meta["generateName"].get<std::string>();
    for (int i = 0; i < 5; ++i) {
      name += kChars[rng() % (sizeof(kChars) - 1)];
    }
  }
  if (name.empty()) {
    return {422, statusError(422, "Invalid",
                             rt.kind + " \"\" is invalid: metadata.name: Required value: name or "
                                       "generateName is required",
                             {{"kind", rt.kind},
                              {"causes",
                               {{{"reason", "FieldValueRequired"},
                                 {"message", "Required value: name or generateName is required"},
                                 {"field", "metadata.name"}}}}})};
  }
  if (rt.namespaced) {
    const std::string body_ns = meta.value("namespace", "");
    if (!body_ns.empty() && body_ns != ns) {
      return {400, statusError(400, "BadRequest",
                               "the namespace of the provided object does not match the namespace "
                               "sent on the request")};
    }
    meta["namespace"] = ns;
  } else {
    meta.erase("namespace");
  }
  const std::string k = key(rt, ns, name);
  if (objects_.count(k) != 0) {
    return {409,
            statusError(409, "AlreadyExists", rt.qualified() + " \"" + name + "\" already exists",
                        {{"name", name}, {"group", rt.group}, {"kind", rt.resource}})};
  }
  ++rv_;
  meta["name"] = name;
  meta["uid"] = "uid-" + std::to_string(++uid_counter_) + "-" + std::to_string(rv_);
  meta["creationTimestamp"] = nowRfc3339();
  meta["resourceVersion"] = std::to_string(rv_);
  meta["generation"] = 1;
  object["kind"] = rt.kind;
  object["apiVersion"] = rt.apiVersion();
  objects_[k] = object;
  record(rt, "ADDED", object, nullptr);
  return {201, object};
}

Outcome Store::get(const ResourceType& rt, const std::string& ns, const std::string& name) const {
  auto it = objects_.find(key(rt, ns, name));
  if (it == objects_.end()) {
    return notFound(rt, name);
  }
  return {200, it->second};
}

std::vector<json> Store::objects(const ResourceType& rt, const std::string& ns) const {
  // Keys are "qualified/namespace/name": a prefix scan finds a type, or a type in a namespace.
  const std::string prefix =
      rt.qualified() + "/" + (rt.namespaced && !ns.empty() ? ns + "/" : std::string());
  std::vector<json> out;
  for (auto it = objects_.lower_bound(prefix);
       it != objects_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    out.push_back(it->second);
  }
  return out;
}

namespace {
Outcome listOf(const ResourceType& rt, const std::vector<json>& objects, const Selector& labels,
               const Selector& fields, std::uint64_t rv) {
  json items = json::array();
  for (json obj : objects) {
    if (labels.matches(obj) && fields.matches(obj)) {
      obj.erase("kind");  // as a real server does for the items of a typed list
      obj.erase("apiVersion");
      items.push_back(std::move(obj));
    }
  }
  return {200,
          {{"kind", rt.kind + "List"},
           {"apiVersion", rt.apiVersion()},
           {"metadata", {{"resourceVersion", std::to_string(rv)}}},
           {"items", items}}};
}

std::string nameOf(const json& object) {
  const json& meta = object.value("metadata", json::object());
  return meta.value("namespace", "") + "/" + meta.value("name", "");
}
}  // namespace

Outcome Store::list(const ResourceType& rt, const std::string& ns, const Selector& labels,
                    const Selector& fields) const {
  return listOf(rt, objects(rt, ns), labels, fields, rv_);
}

Outcome Store::listAt(const ResourceType& rt, const std::string& ns, const Selector& labels,
                      const Selector& fields, std::uint64_t rv) const {
  if (rv >= rv_) {
    return list(rt, ns, labels, fields);
  }
  if (rv < compacted_rv_) {
    return {410,
            statusError(410, "Expired", "The resourceVersion for the provided list is too old.")};
  }
  // Today's objects, with every change after `rv` undone, newest first.
  std::map<std::string, json> at;
  for (json& obj : objects(rt, ns)) {
    std::string name = nameOf(obj);  // before the move: the right side of = is evaluated first
    at[std::move(name)] = std::move(obj);
  }
  for (auto it = history_.rbegin(); it != history_.rend() && it->rv > rv; ++it) {
    if (it->rt != &rt || (!ns.empty() && it->object["metadata"].value("namespace", "") != ns)) {
      continue;
    }
    if (it->type == "ADDED") {
      at.erase(nameOf(it->object));
    } else {
      at[nameOf(it->object)] = it->old_object.is_null() ? it->object : it->old_object;
    }
  }
  std::vector<json> objects;
  objects.reserve(at.size());
  for (auto& [name, obj] : at) {
    objects.push_back(std::move(obj));
  }
  return listOf(rt, objects, labels, fields, rv);
}

Outcome Store::write(const ResourceType& rt, const std::string& ns, const std::string& name,
                     json next, const json& current, bool status) {
  if (!next.is_object()) {
    return {400, statusError(400, "BadRequest", "the body must be a JSON object")};
  }
  const json& cur_meta = current["metadata"];
  const std::string sent_rv = next.value("metadata", json::object()).value("resourceVersion", "");
  if (!sent_rv.empty() && sent_rv != cur_meta.value("resourceVersion", "")) {
    return {409, statusError(409, "Conflict",
                             "Operation cannot be fulfilled on " + rt.qualified() + " \"" + name +
                                 "\": the object has been modified; please apply your changes "
                                 "to the latest version and try again",
                             {{"name", name}, {"group", rt.group}, {"kind", rt.resource}})};
  }
  if (sent_rv.empty() && !rt.unconditional_update) {
    return {422, statusError(422, "Invalid",
                             rt.kind + " \"" + name +
                                 "\" is invalid: metadata.resourceVersion: "
                                 "Invalid value: 0x0: must be specified for an update",
                             {{"name", name}, {"kind", rt.kind}})};
  }
  json result;
  if (status) {
    result = current;
    if (next.contains("status")) {
      result["status"] = next["status"];
    } else {
      result.erase("status");
    }
  } else {
    result = next;
    result["metadata"]["name"] = name;
    if (rt.namespaced) {
      result["metadata"]["namespace"] = ns;
    }
    for (const char* owned : {"uid", "creationTimestamp"}) {
      if (cur_meta.contains(owned)) {
        result["metadata"][owned] = cur_meta[owned];
      }
    }
    if (rt.has_status) {
      if (current.contains("status")) {
        result["status"] = current["status"];
      } else {
        result.erase("status");
      }
    }
    const std::int64_t generation = cur_meta.value("generation", 1);
    result["metadata"]["generation"] =
        result.value("spec", json()) != current.value("spec", json()) ? generation + 1 : generation;
  }
  result["kind"] = rt.kind;
  result["apiVersion"] = rt.apiVersion();
  json compare_a = result;
  json compare_b = current;
  compare_a["metadata"].erase("resourceVersion");
  compare_b["metadata"].erase("resourceVersion");
  if (compare_a == compare_b) {
    return {200, current};  // no change: no new resourceVersion, no event
  }
  ++rv_;
  result["metadata"]["resourceVersion"] = std::to_string(rv_);
  objects_[key(rt, ns, name)] = result;
  record(rt, "MODIFIED", result, current);
  return {200, result};
}

Outcome Store::update(const ResourceType& rt, const std::string& ns, const std::string& name,
                      json object, bool status) {
  auto it = objects_.find(key(rt, ns, name));
  if (it == objects_.end()) {
    return notFound(rt, name);
  }
  const json current = it->second;
  return write(rt, ns, name, std::move(object), current, status);
}

Outcome Store::patch(const ResourceType& rt, const std::string& ns, const std::string& name,
                     const json& patch, const std::string& content_type, bool status) {
  auto it = objects_.find(key(rt, ns, name));
  if (it == objects_.end()) {
    return notFound(rt, name);
  }
  const json current = it->second;
  json base = current;
  base["metadata"].erase("resourceVersion");  // only a resourceVersion in the patch is checked
  json next;
  if (content_type == "application/merge-patch+json") {
    next = mergePatch(base, patch);
  } else if (content_type == "application/strategic-merge-patch+json") {
    next = strategicMergePatch(base, patch, "");
  } else if (content_type == "application/json-patch+json") {
    std::string error;
    auto patched = jsonPatch(base, patch, &error);
    if (!patched) {
      return {422, statusError(422, "Invalid", "the JSON patch could not be applied: " + error)};
    }
    next = *patched;
  } else {
    return {415,
            statusError(415, "UnsupportedMediaType",
                        "the body of the request was in an unknown format - accepted media "
                        "types include: application/json-patch+json, "
                        "application/merge-patch+json, application/strategic-merge-patch+json")};
  }
  return write(rt, ns, name, std::move(next), current, status);
}

Outcome Store::remove(const ResourceType& rt, const std::string& ns, const std::string& name) {
  auto it = objects_.find(key(rt, ns, name));
  if (it == objects_.end()) {
    return notFound(rt, name);
  }
  json last = it->second;
  objects_.erase(it);
  ++rv_;
  const std::string uid = last["metadata"].value("uid", "");
  json old = last;
  last["metadata"]["resourceVersion"] = std::to_string(rv_);
  record(rt, "DELETED", last, old);
  return {
      200,
      {{"kind", "Status"},
       {"apiVersion", "v1"},
       {"metadata", json::object()},
       {"status", "Success"},
       {"details", {{"name", name}, {"group", rt.group}, {"kind", rt.resource}, {"uid", uid}}}}};
}

std::uint64_t Store::oldestWatchable() const { return std::max(compacted_rv_, watch_floor_); }

void Store::compact() {
  history_.clear();
  compacted_rv_ = rv_;
}

std::vector<const WatchEvent*> Store::eventsSince(std::uint64_t rv, const ResourceType& rt,
                                                  const std::string& ns) const {
  std::vector<const WatchEvent*> out;
  for (const auto& e : history_) {
    if (e.rv > rv && e.rt == &rt &&
        (ns.empty() || e.object["metadata"].value("namespace", "") == ns)) {
      out.push_back(&e);
    }
  }
  return out;
}

json Store::save() const {
  json objects = json::object();
  for (const auto& [k, v] : objects_) {
    objects[k] = v;
  }
  return {{"resourceVersion", rv_}, {"uidCounter", uid_counter_}, {"objects", objects}};
}

bool Store::load(const json& saved) {
  if (!saved.is_object() || !saved.contains("objects")) {
    return false;
  }
  rv_ = saved.value("resourceVersion", std::uint64_t{1});
  uid_counter_ = saved.value("uidCounter", std::uint64_t{0});
  objects_.clear();
  for (const auto& [k, v] : saved["objects"].items()) {
    objects_[k] = v;
  }
  history_.clear();
  compacted_rv_ = rv_;  // no history survives a restart: older watches relist
  return true;
}

}  // namespace portico::apiserver
