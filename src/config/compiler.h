#pragma once
// The compiler: ClusterState in, routing Snapshot and diagnostics out.
//
// A pure function (DESIGN.md, "The pipeline"): no I/O, no clock, no logging, no globals. The
// same state always gives the same result, whatever order the objects arrived in: inputs are
// read from sorted maps and every output list is sorted. A user's mistake is a Diagnostic and
// leaves out only what it touches; everything else keeps routing.

#include "model/cluster_state.h"
#include "snapshot/snapshot.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace portico::config {

// A TLS Secret's certificate as the controller found it (src/tls checks the PEM once per Secret
// version): the compiler takes this as input and never parses certificates itself.
// A Secret's ca.crt is checked too, when it has one (any type): it can verify backends.
struct SecretCheck {
  bool ok = false;                 // tls.crt and tls.key (kubernetes.io/tls Secrets)
  std::string reason;              // when !ok
  std::vector<std::string> names;  // the DNS names the certificate covers
  bool has_ca = false;             // the Secret has a ca.crt
  bool ca_ok = false;              // ... and it holds at least one CA certificate, all valid PEM
  std::string ca_reason;           // when has_ca && !ca_ok
  bool operator==(const SecretCheck&) const = default;
};
using SecretChecks = std::unordered_map<std::string, SecretCheck>;  // by "namespace/name"

// The controller's HTTPS defaults (flags), for the hosts that have TLS.
struct TlsOptions {
  std::uint16_t redirect_port = 443;  // --https-redirect-port: the port in redirect Locations
  bool hsts = true;                   // --hsts (ingress-nginx's defaults below)
  std::uint64_t hsts_max_age = 31536000;
  bool hsts_include_subdomains = true;
  bool hsts_preload = false;
  bool operator==(const TlsOptions&) const = default;
};

struct Options {
  std::string ingress_class = "portico";
  std::string controller_name = "portico.dev/ingress-controller";
  bool watch_ingress_without_class = false;
  std::string default_backend_service;  // "namespace/name", or empty
  SecretChecks secret_checks;           // every TLS Secret of the state, checked
  TlsOptions tls;
  // The addresses each ExternalName Service's name resolved to (src/dns resolves the names a
  // compile reports in CompileResult::external_names): sorted; a name not here has none yet.
  std::map<std::string, std::vector<std::string>> resolved;
};

struct Diagnostic {
  enum class Severity { kWarning, kError };
  Severity severity = Severity::kError;
  std::string kind;    // "Ingress", "Service", ... ("Controller" for flags)
  std::string object;  // "namespace/name"
  std::string field;   // "spec.rules[0].http.paths[1].path", or empty
  std::string message;

  std::string toString() const;
  bool operator==(const Diagnostic&) const = default;
  auto operator<=>(const Diagnostic&) const = default;
};

// Where a target group's endpoints come from: the Service port it was made for.
struct TargetGroupSource {
  std::string service;  // "namespace/name"
  model::ServicePort port;
  bool cluster_ip = false;    // target-type: service: its endpoint is the ClusterIP, not slices
  std::string external_name;  // an ExternalName Service: its endpoints are the name's addresses
  bool operator==(const TargetGroupSource&) const = default;
};

struct CompileResult {
  snapshot::Snapshot snapshot;
  std::vector<Diagnostic> diagnostics;  // sorted
  std::vector<std::string> ingresses;   // keys of the Ingresses that are ours, sorted
  std::vector<TargetGroupSource> target_group_sources;  // [target group index]
  std::vector<std::string> external_names;  // DNS names of ExternalName target groups, sorted
};

CompileResult compile(const model::ClusterState& state, const Options& options);

// "namespace/name" of every Secret an Ingress or a Service names as its backends' CA
// (portico.dev/backend-tls-ca-secret), sorted: the Secrets whose ca.crt the controller checks
// for Options::secret_checks.
std::vector<std::string> caSecretsNamed(const model::ClusterState& state);

// When only EndpointSlices differ between the state `previous` was compiled from and `state`
// (onlyEndpointsDiffer), the routes, target groups and diagnostics are the same and only the
// endpoints change: this returns what compile(state, options).snapshot would, sharing
// `previous`'s routes. `sources` is that compile's target_group_sources. An EndpointSlice
// change at 10,000 Ingresses costs this (milliseconds), not a compile.
snapshot::Snapshot recompileEndpoints(const snapshot::Snapshot& previous,
                                      const std::vector<TargetGroupSource>& sources,
                                      const model::ClusterState& state);

// Whether `a` and `b` differ in EndpointSlices at most (recompileEndpoints applies).
bool onlyEndpointsDiffer(const model::ClusterState& a, const model::ClusterState& b);

}  // namespace portico::config
