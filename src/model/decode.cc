#include "model/decode.h"

#include <array>
#include <ctime>
#include <limits>
#include <stdexcept>

namespace portico::model {

namespace {

using nlohmann::json;

// Thrown inside this file only; decodeObject() turns it into an Error naming object and field.
struct FieldError {
  std::string path;
  std::string message;
};

const char* typeName(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "object";
    case json::value_t::array:
      return "array";
    case json::value_t::string:
      return "string";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "number";
    default:
      return "value";
  }
}

[[noreturn]] void fail(const std::string& path, const std::string& message) {
  throw FieldError{path, message};
}

std::string join(const std::string& path, const char* key) {
  return path.empty() ? key : path + "." + key;
}

// Returns the member, or nullptr when absent or null (Kubernetes treats both as unset).
const json* member(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    return nullptr;
  }
  return &*it;
}

const json& expectObject(const json& j, const std::string& path) {
  if (!j.is_object()) {
    fail(path, std::string("expected an object, got ") + typeName(j));
  }
  return j;
}

std::string getString(const json& obj, const char* key, const std::string& path,
                      bool required = false) {
  const json* m = member(obj, key);
  if (m == nullptr) {
    if (required) {
      fail(join(path, key), "required");
    }
    return {};
  }
  if (!m->is_string()) {
    fail(join(path, key), std::string("expected a string, got ") + typeName(*m));
  }
  return m->get<std::string>();
}

std::optional<std::int32_t> getInt32(const json& obj, const char* key, const std::string& path) {
  const json* m = member(obj, key);
  if (m == nullptr) {
    return std::nullopt;
  }
  if (!m->is_number_integer()) {
    fail(join(path, key), std::string("expected an integer, got ") + typeName(*m));
  }
  const auto v = m->get<std::int64_t>();
  if (v < std::numeric_limits<std::int32_t>::min() ||
      v > std::numeric_limits<std::int32_t>::max()) {
    fail(join(path, key), "integer out of range");
  }
  return static_cast<std::int32_t>(v);
}

std::optional<bool> getBool(const json& obj, const char* key, const std::string& path) {
  const json* m = member(obj, key);
  if (m == nullptr) {
    return std::nullopt;
  }
  if (!m->is_boolean()) {
    fail(join(path, key), std::string("expected a boolean, got ") + typeName(*m));
  }
  return m->get<bool>();
}

// Iterates an optional array member, calling fn(item, item_path).
template <class Fn>
void forEach(const json& obj, const char* key, const std::string& path, Fn&& fn) {
  const json* m = member(obj, key);
  if (m == nullptr) {
    return;
  }
  const std::string p = join(path, key);
  if (!m->is_array()) {
    fail(p, std::string("expected an array, got ") + typeName(*m));
  }
  for (std::size_t i = 0; i < m->size(); ++i) {
    fn((*m)[i], p + "[" + std::to_string(i) + "]");
  }
}

std::map<std::string, std::string> getStringMap(const json& obj, const char* key,
                                                const std::string& path) {
  std::map<std::string, std::string> out;
  const json* m = member(obj, key);
  if (m == nullptr) {
    return out;
  }
  const std::string p = join(path, key);
  expectObject(*m, p);
  for (const auto& [k, v] : m->items()) {
    if (!v.is_string()) {
      fail(p + "." + k, std::string("expected a string, got ") + typeName(v));
    }
    out[k] = v.get<std::string>();
  }
  return out;
}

ObjectMeta decodeMeta(const json& doc, bool namespaced) {
  const json* m = member(doc, "metadata");
  if (m == nullptr) {
    fail("metadata", "required");
  }
  expectObject(*m, "metadata");
  ObjectMeta meta;
  meta.name = getString(*m, "name", "metadata", true);
  if (meta.name.empty()) {
    fail("metadata.name", "must not be empty");
  }
  meta.namespace_ = namespaced ? getString(*m, "namespace", "metadata") : std::string();
  if (namespaced && meta.namespace_.empty()) {
    meta.namespace_ = "default";  // as kubectl does for objects written without one
  }
  meta.uid = getString(*m, "uid", "metadata");
  meta.resource_version = getString(*m, "resourceVersion", "metadata");
  meta.labels = getStringMap(*m, "labels", "metadata");
  meta.annotations = getStringMap(*m, "annotations", "metadata");
  const std::string ts = getString(*m, "creationTimestamp", "metadata");
  if (!ts.empty()) {
    meta.creation_timestamp = parseRfc3339(ts);
    if (!meta.creation_timestamp) {
      fail("metadata.creationTimestamp", "not an RFC 3339 time: \"" + ts + "\"");
    }
  }
  return meta;
}

IngressBackend decodeBackend(const json& j, const std::string& path) {
  expectObject(j, path);
  IngressBackend b;
  if (const json* s = member(j, "service")) {
    const std::string sp = join(path, "service");
    expectObject(*s, sp);
    IngressServiceBackend svc;
    svc.name = getString(*s, "name", sp, true);
    if (const json* port = member(*s, "port")) {
      const std::string pp = join(sp, "port");
      expectObject(*port, pp);
      svc.port.name = getString(*port, "name", pp);
      svc.port.number = getInt32(*port, "number", pp);
    }
    b.service = svc;
  }
  if (const json* r = member(j, "resource")) {
    const std::string rp = join(path, "resource");
    expectObject(*r, rp);
    b.resource =
        TypedLocalObjectReference{getString(*r, "apiGroup", rp), getString(*r, "kind", rp, true),
                                  getString(*r, "name", rp, true)};
  }
  return b;
}

// status.loadBalancer.ingress[] of an Ingress or a Service.
std::vector<LoadBalancerIngress> decodeLoadBalancer(const json& doc) {
  std::vector<LoadBalancerIngress> out;
  const json* status = member(doc, "status");
  if (status == nullptr) {
    return out;
  }
  expectObject(*status, "status");
  const json* lb = member(*status, "loadBalancer");
  if (lb == nullptr) {
    return out;
  }
  expectObject(*lb, "status.loadBalancer");
  forEach(*lb, "ingress", "status.loadBalancer", [&](const json& e, const std::string& ep) {
    expectObject(e, ep);
    out.push_back({getString(e, "ip", ep), getString(e, "hostname", ep)});
  });
  return out;
}

Ingress decodeIngress(const json& doc, ObjectMeta meta) {
  Ingress ing;
  ing.meta = std::move(meta);
  ing.load_balancer = decodeLoadBalancer(doc);
  const json* spec = member(doc, "spec");
  if (spec == nullptr) {
    return ing;
  }
  expectObject(*spec, "spec");
  if (member(*spec, "ingressClassName") != nullptr) {
    ing.ingress_class_name = getString(*spec, "ingressClassName", "spec");
  }
  if (const json* db = member(*spec, "defaultBackend")) {
    ing.default_backend = decodeBackend(*db, "spec.defaultBackend");
  } else if (const json* legacy = member(*spec, "backend")) {
    ing.default_backend = decodeBackend(*legacy, "spec.backend");
  }
  forEach(*spec, "rules", "spec", [&](const json& r, const std::string& rp) {
    expectObject(r, rp);
    IngressRule rule;
    rule.host = getString(r, "host", rp);
    if (const json* http = member(r, "http")) {
      const std::string hp = join(rp, "http");
      expectObject(*http, hp);
      forEach(*http, "paths", hp, [&](const json& p, const std::string& pp) {
        expectObject(p, pp);
        HttpIngressPath path;
        path.path = getString(p, "path", pp);
        path.path_type = getString(p, "pathType", pp);
        const json* backend = member(p, "backend");
        if (backend == nullptr) {
          fail(join(pp, "backend"), "required");
        }
        path.backend = decodeBackend(*backend, join(pp, "backend"));
        rule.paths.push_back(std::move(path));
      });
    }
    ing.rules.push_back(std::move(rule));
  });
  forEach(*spec, "tls", "spec", [&](const json& t, const std::string& tp) {
    expectObject(t, tp);
    IngressTls tls;
    forEach(t, "hosts", tp, [&](const json& h, const std::string& hp) {
      if (!h.is_string()) {
        fail(hp, std::string("expected a string, got ") + typeName(h));
      }
      tls.hosts.push_back(h.get<std::string>());
    });
    tls.secret_name = getString(t, "secretName", tp);
    ing.tls.push_back(std::move(tls));
  });
  return ing;
}

IngressClass decodeIngressClass(const json& doc, ObjectMeta meta) {
  IngressClass ic;
  ic.meta = std::move(meta);
  if (const json* spec = member(doc, "spec")) {
    expectObject(*spec, "spec");
    ic.controller = getString(*spec, "controller", "spec");
  }
  return ic;
}

IntOrString getIntOrString(const json& obj, const char* key, const std::string& path) {
  IntOrString out;
  const json* m = member(obj, key);
  if (m == nullptr) {
    return out;
  }
  if (m->is_string()) {
    out.name = m->get<std::string>();
  } else {
    out.number = getInt32(obj, key, path);
  }
  return out;
}

Service decodeService(const json& doc, ObjectMeta meta) {
  Service svc;
  svc.meta = std::move(meta);
  svc.load_balancer = decodeLoadBalancer(doc);
  const json* spec = member(doc, "spec");
  if (spec == nullptr) {
    return svc;
  }
  expectObject(*spec, "spec");
  const std::string type = getString(*spec, "type", "spec");
  if (!type.empty()) {
    svc.type = type;
  }
  svc.cluster_ip = getString(*spec, "clusterIP", "spec");
  svc.external_name = getString(*spec, "externalName", "spec");
  forEach(*spec, "ports", "spec", [&](const json& p, const std::string& pp) {
    expectObject(p, pp);
    ServicePort port;
    port.name = getString(p, "name", pp);
    const std::string proto = getString(p, "protocol", pp);
    if (!proto.empty()) {
      port.protocol = proto;
    }
    const auto number = getInt32(p, "port", pp);
    if (!number) {
      fail(join(pp, "port"), "required");
    }
    port.port = *number;
    port.target_port = getIntOrString(p, "targetPort", pp);
    svc.ports.push_back(std::move(port));
  });
  return svc;
}

EndpointSlice decodeEndpointSlice(const json& doc, ObjectMeta meta) {
  EndpointSlice es;
  es.meta = std::move(meta);
  es.address_type = getString(doc, "addressType", "");
  forEach(doc, "endpoints", "", [&](const json& e, const std::string& ep) {
    expectObject(e, ep);
    Endpoint endpoint;
    forEach(e, "addresses", ep, [&](const json& a, const std::string& ap) {
      if (!a.is_string()) {
        fail(ap, std::string("expected a string, got ") + typeName(a));
      }
      endpoint.addresses.push_back(a.get<std::string>());
    });
    if (const json* c = member(e, "conditions")) {
      const std::string cp = join(ep, "conditions");
      expectObject(*c, cp);
      endpoint.conditions.ready = getBool(*c, "ready", cp);
      endpoint.conditions.serving = getBool(*c, "serving", cp);
      endpoint.conditions.terminating = getBool(*c, "terminating", cp);
    }
    es.endpoints.push_back(std::move(endpoint));
  });
  forEach(doc, "ports", "", [&](const json& p, const std::string& pp) {
    expectObject(p, pp);
    EndpointPort port;
    if (member(p, "name") != nullptr) {
      port.name = getString(p, "name", pp);
    }
    port.port = getInt32(p, "port", pp);
    const std::string proto = getString(p, "protocol", pp);
    if (!proto.empty()) {
      port.protocol = proto;
    }
    es.ports.push_back(std::move(port));
  });
  return es;
}

Secret decodeSecret(const json& doc, ObjectMeta meta) {
  Secret s;
  s.meta = std::move(meta);
  s.type = getString(doc, "type", "");
  for (const auto& [k, v] : getStringMap(doc, "data", "")) {
    auto decoded = decodeBase64(v);
    if (!decoded) {
      fail("data." + k, "not valid base64");
    }
    s.data[k] = std::move(*decoded);
  }
  for (const auto& [k, v] : getStringMap(doc, "stringData", "")) {
    s.data[k] = v;
  }
  return s;
}

ConfigMap decodeConfigMap(const json& doc, ObjectMeta meta) {
  ConfigMap cm;
  cm.meta = std::move(meta);
  cm.data = getStringMap(doc, "data", "");
  return cm;
}

// Which (apiVersion, kind) pairs are read, and whether the kind is namespaced.
struct KindInfo {
  const char* kind;
  const char* api_version;
  bool namespaced;
};
constexpr std::array<KindInfo, 9> kKinds{{
    {"Ingress", "networking.k8s.io/v1", true},
    {"IngressClass", "networking.k8s.io/v1", false},
    {"Service", "v1", true},
    {"EndpointSlice", "discovery.k8s.io/v1", true},
    {"Secret", "v1", true},
    {"ConfigMap", "v1", true},
    // Older versions kubectl may still print; same shape for the fields we read.
    {"IngressClass", "networking.k8s.io/v1beta1", false},
    {"EndpointSlice", "discovery.k8s.io/v1beta1", true},
    {"Ingress", "extensions/v1beta1", true},
}};

}  // namespace

const char* kindOf(const Object& object) {
  static constexpr std::array<const char*, 6> kNames{"Ingress",       "IngressClass", "Service",
                                                     "EndpointSlice", "Secret",       "ConfigMap"};
  return kNames[object.index()];
}

const ObjectMeta& metaOf(const Object& object) {
  return std::visit([](const auto& o) -> const ObjectMeta& { return o.meta; }, object);
}

Result<std::optional<Object>> decodeObject(const json& doc) {
  if (!doc.is_object()) {
    return Error{std::string("a manifest document must be an object, got ") + typeName(doc)};
  }
  const auto kind_it = doc.find("kind");
  const auto api_it = doc.find("apiVersion");
  if (kind_it == doc.end() || !kind_it->is_string()) {
    return Error{"object without a string \"kind\""};
  }
  const std::string kind = kind_it->get<std::string>();
  const std::string api =
      (api_it != doc.end() && api_it->is_string()) ? api_it->get<std::string>() : std::string();
  const KindInfo* info = nullptr;
  bool kind_known = false;
  for (const auto& k : kKinds) {
    if (kind == k.kind) {
      kind_known = true;
      if (api == k.api_version) {
        info = &k;
      }
    }
  }
  if (info == nullptr) {
    if (kind_known) {
      return Error{kind + ": unsupported apiVersion \"" + api + "\""};
    }
    return std::optional<Object>{};
  }
  // Name the object in errors as soon as its name is known, even when other metadata is wrong.
  std::string who = kind;
  if (const json* m = member(doc, "metadata"); m != nullptr && m->is_object()) {
    const json* name = member(*m, "name");
    const json* ns = member(*m, "namespace");
    if (name != nullptr && name->is_string()) {
      std::string n = ns != nullptr && ns->is_string() ? ns->get<std::string>() : "";
      if (info->namespaced && n.empty()) {
        n = "default";
      }
      who += " " + (info->namespaced ? n + "/" : std::string()) + name->get<std::string>();
    }
  }
  try {
    ObjectMeta meta = decodeMeta(doc, info->namespaced);
    if (kind == "Ingress") {
      return std::optional<Object>{decodeIngress(doc, std::move(meta))};
    }
    if (kind == "IngressClass") {
      return std::optional<Object>{decodeIngressClass(doc, std::move(meta))};
    }
    if (kind == "Service") {
      return std::optional<Object>{decodeService(doc, std::move(meta))};
    }
    if (kind == "EndpointSlice") {
      return std::optional<Object>{decodeEndpointSlice(doc, std::move(meta))};
    }
    if (kind == "Secret") {
      return std::optional<Object>{decodeSecret(doc, std::move(meta))};
    }
    return std::optional<Object>{decodeConfigMap(doc, std::move(meta))};
  } catch (const FieldError& e) {
    return Error{who + ": " + e.path + ": " + e.message};
  } catch (const nlohmann::json::exception& e) {
    return Error{who + ": " + e.what()};
  }
}

std::optional<std::int64_t> parseRfc3339(const std::string& s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &consumed) !=
          6 ||
      consumed != 19) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) {
    return std::nullopt;
  }
  std::size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    ++i;
    const std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      ++i;
    }
    if (i == start) {
      return std::nullopt;
    }
  }
  std::int64_t offset = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int oh = 0, om = 0;
    if (s.size() != i + 6 || std::sscanf(s.c_str() + i + 1, "%2d:%2d", &oh, &om) != 2) {
      return std::nullopt;
    }
    offset = (s[i] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != s.size()) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  return static_cast<std::int64_t>(timegm(&tm)) - offset;
}

std::optional<std::string> decodeBase64(const std::string& s) {
  // Hand-written: twenty lines, and it keeps OpenSSL out of the pure model library.
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  int pad = 0;
  for (char c : s) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '+') {
      v = 62;
    } else if (c == '/') {
      v = 63;
    } else if (c == '=') {
      ++pad;
      continue;
    } else if (c == '\n' || c == '\r' || c == ' ' || c == '\t') {
      continue;
    } else {
      return std::nullopt;
    }
    if (pad > 0) {
      return std::nullopt;  // data after padding
    }
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  if (pad > 2 || bits >= 6) {
    return std::nullopt;
  }
  return out;
}

}  // namespace portico::model
