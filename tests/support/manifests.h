#pragma once
// The one manifest builder for tests: Services with their EndpointSlices, and Ingresses built
// field by field, as YAML that the model decodes exactly as it decodes a cluster's objects.
//
//   IngressYaml("web").annotation("portico.dev/proxy-body-size", "1k")
//       .rule("a.test").prefix("/", "svc", 80).str()

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace portico::testing {

class IngressYaml final {
 public:
  explicit IngressYaml(std::string name, std::string ns = "default")
      : name_(std::move(name)), ns_(std::move(ns)) {}
  IngressYaml& annotation(const std::string& key, const std::string& value) {
    annotations_.emplace_back(key, value);
    return *this;
  }
  // "" leaves spec.ingressClassName out.
  IngressYaml& className(std::string c) {
    class_ = std::move(c);
    return *this;
  }
  IngressYaml& meta(std::string raw_lines) {  // extra metadata lines, indented two spaces
    meta_ += raw_lines;
    return *this;
  }
  IngressYaml& spec(std::string raw_lines) {  // extra spec lines, indented two spaces
    spec_ += raw_lines;
    return *this;
  }
  IngressYaml& rule(const std::string& host) {
    rules_ += host.empty() ? "  - http:\n      paths:\n"
                           : "  - host: \"" + host + "\"\n    http:\n      paths:\n";
    return *this;
  }
  IngressYaml& prefix(const std::string& path, const std::string& service, int port = 80) {
    return path_("Prefix", path, service, port);
  }
  IngressYaml& exact(const std::string& path, const std::string& service, int port = 80) {
    return path_("Exact", path, service, port);
  }
  std::string str() const {
    std::string y = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " + name_ +
                    "\n  namespace: " + ns_ + "\n" + meta_;
    if (!annotations_.empty()) {
      y += "  annotations:\n";
      for (const auto& [k, v] : annotations_) {
        y += "    \"" + k + "\": \"" + v + "\"\n";
      }
    }
    y += "spec:\n";
    if (!class_.empty()) {
      y += "  ingressClassName: " + class_ + "\n";
    }
    y += spec_;
    if (!rules_.empty()) {
      y += "  rules:\n" + rules_;
    }
    return y + "---\n";
  }

 private:
  IngressYaml& path_(const char* type, const std::string& path, const std::string& service,
                     int port) {
    rules_ += "      - {path: \"" + path + "\", pathType: " + type +
              ", backend: {service: {name: " + service +
              ", port: {number: " + std::to_string(port) + "}}}}\n";
    return *this;
  }
  std::string name_;
  std::string ns_;
  std::string class_ = "portico";
  std::vector<std::pair<std::string, std::string>> annotations_;
  std::string meta_;
  std::string spec_;
  std::string rules_;
};

// An Ingress of our class with one rule: host, Prefix path, service (port 80).
inline std::string simpleIngress(const std::string& name, const std::string& host,
                                 const std::string& path, const std::string& service) {
  return IngressYaml(name).rule(host).prefix(path, service).str();
}

// A Service NAME with port 80 named http -> 8080, and one EndpointSlice with the given ready
// addresses (pod IPs; never dialled by compiler tests).
// `annotations`: the Service's, as YAML flow-map entries ("a: b, c: d"), or empty.
inline std::string serviceYaml(const std::string& name, const std::vector<std::string>& addrs,
                               const std::string& ns = "default",
                               const std::string& annotations = "") {
  std::string y = "apiVersion: v1\nkind: Service\nmetadata: {name: " + name + ", namespace: " + ns +
                  (annotations.empty() ? "" : ", annotations: {" + annotations + "}") +
                  "}\nspec:\n  ports: [{name: http, port: 80, targetPort: 8080}]\n---\n"
                  "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: " +
                  name + "-abc\n  namespace: " + ns +
                  "\n  labels: {kubernetes.io/service-name: " + name +
                  "}\naddressType: IPv4\nports: [{name: http, port: 8080}]\nendpoints:\n";
  for (const auto& a : addrs) {
    y += "- addresses: [\"" + a + "\"]\n  conditions: {ready: true}\n";
  }
  if (addrs.empty()) {
    y += "[]\n";
  }
  return y + "---\n";
}

// A Service NAME (port 80, named "http") whose endpoints are 127.0.0.1 at each of `ports`
// (one EndpointSlice per port, as Kubernetes does for pods with different target ports).
// `annotations`: the Service's, as YAML flow-map entries ("a: b, c: d"), or empty.
inline std::string loopbackService(const std::string& name, const std::vector<std::uint16_t>& ports,
                                   const std::string& ns = "default",
                                   const std::string& annotations = "") {
  std::string y = "apiVersion: v1\nkind: Service\nmetadata: {name: " + name + ", namespace: " + ns +
                  (annotations.empty() ? "" : ", annotations: {" + annotations + "}") +
                  "}\nspec:\n  ports: [{name: http, port: 80, targetPort: http}]\n---\n";
  for (std::size_t i = 0; i < ports.size(); ++i) {
    y += "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: " + name + "-" +
         std::to_string(i) + "\n  namespace: " + ns +
         "\n  labels: {kubernetes.io/service-name: " + name +
         "}\naddressType: IPv4\nports: [{name: http, port: " + std::to_string(ports[i]) +
         "}]\nendpoints: [{addresses: [\"127.0.0.1\"], conditions: {ready: true}}]\n---\n";
  }
  if (ports.empty()) {
    y += "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: " + name +
         "-empty\n  namespace: " + ns + "\n  labels: {kubernetes.io/service-name: " + name +
         "}\naddressType: IPv4\nports: [{name: http, port: 1}]\nendpoints: []\n---\n";
  }
  return y;
}

// An Ingress "default/web" of our class: host a, Prefix /, Service web port 80.
inline const std::string kWebIngress = simpleIngress("web", "a", "/", "web");

// PEM text as a YAML block scalar's lines (indented four spaces).
inline std::string pemBlock(const std::string& pem) {
  std::string out;
  std::size_t start = 0;
  while (start < pem.size()) {
    std::size_t end = pem.find('\n', start);
    if (end == std::string::npos) {
      end = pem.size();
    }
    out += "    " + pem.substr(start, end - start) + "\n";
    start = end + 1;
  }
  return out.empty() ? std::string("    \n") : out;
}

// A Secret holding `cert` and `key` (PEM) as tls.crt and tls.key, through stringData.
inline std::string tlsSecretYaml(const std::string& name, const std::string& cert,
                                 const std::string& key, const std::string& ns = "default",
                                 const std::string& type = "kubernetes.io/tls") {
  return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + name + "\n  namespace: " + ns +
         "\ntype: " + type + "\nstringData:\n  tls.crt: |\n" + pemBlock(cert) + "  tls.key: |\n" +
         pemBlock(key) + "---\n";
}

// An Opaque Secret holding `ca` (PEM) as ca.crt: a backend CA.
inline std::string caSecretYaml(const std::string& name, const std::string& ca,
                                const std::string& ns = "default") {
  return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + name + "\n  namespace: " + ns +
         "\ntype: Opaque\nstringData:\n  ca.crt: |\n" + pemBlock(ca) + "---\n";
}

}  // namespace portico::testing
