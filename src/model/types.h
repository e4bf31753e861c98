#pragma once
// Value types for the Kubernetes objects portico reads: only the fields it uses, already
// validated for shape (types, required names) by decode.h. Semantic checks (path syntax,
// path types, references) belong to the compiler, which turns them into diagnostics.
// Plain values: copy freely, any thread.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace portico::model {

struct ObjectMeta {
  std::string namespace_;  // empty for cluster-scoped objects
  std::string name;
  std::string uid;
  std::string resource_version;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  // Seconds since the Unix epoch; nullopt counts as newer than any object that has one.
  std::optional<std::int64_t> creation_timestamp;

  // "namespace/name", or "name" for cluster-scoped objects.
  std::string key() const { return namespace_.empty() ? name : namespace_ + "/" + name; }
  bool operator==(const ObjectMeta&) const = default;
};

struct ServiceBackendPort {
  std::string name;                    // set when the backend names the port
  std::optional<std::int32_t> number;  // set when it numbers it
  bool operator==(const ServiceBackendPort&) const = default;
};

struct IngressServiceBackend {
  std::string name;
  ServiceBackendPort port;
  bool operator==(const IngressServiceBackend&) const = default;
};

struct TypedLocalObjectReference {
  std::string api_group;
  std::string kind;
  std::string name;
  bool operator==(const TypedLocalObjectReference&) const = default;
};

struct IngressBackend {
  std::optional<IngressServiceBackend> service;
  std::optional<TypedLocalObjectReference> resource;
  bool operator==(const IngressBackend&) const = default;
};

struct HttpIngressPath {
  std::string path;       // may be empty (then "/" for Prefix-like types)
  std::string path_type;  // "Exact" | "Prefix" | "ImplementationSpecific" (checked by compiler)
  IngressBackend backend;
  bool operator==(const HttpIngressPath&) const = default;
};

struct IngressRule {
  std::string host;  // empty: every host
  std::vector<HttpIngressPath> paths;
  bool operator==(const IngressRule&) const = default;
};

struct IngressTls {
  std::vector<std::string> hosts;
  std::string secret_name;
  bool operator==(const IngressTls&) const = default;
};

// One entry of status.loadBalancer.ingress (Ingress and Service).
struct LoadBalancerIngress {
  std::string ip;
  std::string hostname;
  bool operator==(const LoadBalancerIngress&) const = default;
};

struct Ingress {
  ObjectMeta meta;
  std::optional<std::string> ingress_class_name;
  std::optional<IngressBackend> default_backend;
  std::vector<IngressRule> rules;
  std::vector<IngressTls> tls;
  std::vector<LoadBalancerIngress> load_balancer;  // status.loadBalancer.ingress
  bool operator==(const Ingress&) const = default;
};

struct IngressClass {
  ObjectMeta meta;
  std::string controller;
  bool operator==(const IngressClass&) const = default;
};

// Kubernetes IntOrString: a number, or a name.
struct IntOrString {
  std::optional<std::int32_t> number;
  std::string name;
  bool operator==(const IntOrString&) const = default;
};

struct ServicePort {
  std::string name;
  std::string protocol = "TCP";
  std::int32_t port = 0;
  IntOrString target_port;
  bool operator==(const ServicePort&) const = default;
};

struct Service {
  ObjectMeta meta;
  std::string type = "ClusterIP";
  std::string cluster_ip;
  std::string external_name;
  std::vector<ServicePort> ports;
  std::vector<LoadBalancerIngress> load_balancer;  // status.loadBalancer.ingress
  bool operator==(const Service&) const = default;
};

struct EndpointConditions {
  std::optional<bool> ready;        // nil means true
  std::optional<bool> serving;      // nil means true
  std::optional<bool> terminating;  // nil means false
  bool operator==(const EndpointConditions&) const = default;
};

struct Endpoint {
  std::vector<std::string> addresses;
  EndpointConditions conditions;
  bool operator==(const Endpoint&) const = default;
};

struct EndpointPort {
  std::optional<std::string> name;
  std::optional<std::int32_t> port;
  std::string protocol = "TCP";
  bool operator==(const EndpointPort&) const = default;
};

struct EndpointSlice {
  ObjectMeta meta;
  std::string address_type;  // IPv4 | IPv6 | FQDN
  std::vector<Endpoint> endpoints;
  std::vector<EndpointPort> ports;
  bool operator==(const EndpointSlice&) const = default;
};

struct Secret {
  ObjectMeta meta;
  std::string type;
  std::map<std::string, std::string> data;  // base64-decoded; stringData merged in
  bool operator==(const Secret&) const = default;
};

struct ConfigMap {
  ObjectMeta meta;
  std::map<std::string, std::string> data;
  bool operator==(const ConfigMap&) const = default;
};

using Object = std::variant<Ingress, IngressClass, Service, EndpointSlice, Secret, ConfigMap>;

// The kind name of an object ("Ingress", ...) and its metadata.
const char* kindOf(const Object& object);
const ObjectMeta& metaOf(const Object& object);

}  // namespace portico::model
