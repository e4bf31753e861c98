#include "config/annotations/table.h"

#include "common/strings.h"

namespace portico::config::annotations {

const std::vector<AnnotationInfo>& annotationTable() {
  static const std::vector<AnnotationInfo> kTable = {
      {"portico.dev/conditions.", "conditions", "Ingress", "supported",
       "`conditions.NAME`: JSON list of http-header, query-string, http-request-method, "
       "source-ip, host-header and path-pattern conditions for the rules whose backend is NAME"},
      {"portico.dev/actions.", "actions", "Ingress", "supported",
       "`actions.NAME`: JSON forward (weighted target groups, stickiness), redirect or "
       "fixed-response, for backends `{name: NAME, port: {name: use-annotation}}`"},
      {kGroupOrder, "group", "Ingress", "supported",
       "-1000 to 1000 (0): orders the Ingress's rules against other Ingresses' on the same "
       "path; lower first, then age"},
      {"portico.dev/healthcheck-path", "target-group", "Ingress, Service", "supported",
       "active health check path (/); any healthcheck annotation turns the checks on"},
      {"portico.dev/healthcheck-port", "target-group", "Ingress, Service", "supported",
       "traffic-port (default) or a port number"},
      {"portico.dev/healthcheck-protocol", "target-group", "Ingress, Service", "supported",
       "HTTP (default), HTTPS or TCP"},
      {"portico.dev/healthcheck-interval-seconds", "target-group", "Ingress, Service", "supported",
       "seconds between checks of one endpoint (15; 1 to 300), jittered"},
      {"portico.dev/healthcheck-timeout-seconds", "target-group", "Ingress, Service", "supported",
       "a check's timeout (5; at most the interval)"},
      {"portico.dev/healthy-threshold-count", "target-group", "Ingress, Service", "supported",
       "consecutive successes that bring an endpoint back (2)"},
      {"portico.dev/unhealthy-threshold-count", "target-group", "Ingress, Service", "supported",
       "consecutive failures that take an endpoint out (2)"},
      {"portico.dev/success-codes", "target-group", "Ingress, Service", "supported",
       "statuses a check accepts: \"200\" (default), \"200,204\", \"200-299\""},
      {"portico.dev/load-balancing-algorithm", "target-group", "Ingress, Service", "supported",
       "round_robin (default), least_request, ewma, random, ring_hash"},
      {"portico.dev/load-balancing-hash-key", "target-group", "Ingress, Service", "supported",
       "what ring_hash hashes: source-ip (default), header:NAME, cookie:NAME"},
      {"portico.dev/slow-start-seconds", "target-group", "Ingress, Service", "supported",
       "a new endpoint's share ramps up over this window (0: off; up to 900)"},
      {"portico.dev/deregistration-delay-seconds", "target-group", "Ingress, Service", "supported",
       "how long requests may stay on a terminating endpoint before they are ended (300)"},
      {"portico.dev/passive-health-failures", "target-group", "Ingress, Service", "supported",
       "consecutive 5xx or connect failures that eject an endpoint (5; 0: off)"},
      {"portico.dev/passive-health-ejection-seconds", "target-group", "Ingress, Service",
       "supported", "first ejection's length (30), doubling with each ejection in a row"},
      {"portico.dev/target-type", "target-group", "Ingress, Service", "supported",
       "ip (default): the pods of the EndpointSlices; service: the Service's ClusterIP (meshes)"},
      {"portico.dev/backend-protocol", "backend-tls", "Ingress, Service", "supported",
       "HTTP (default) or HTTPS: re-encrypt to the backend"},
      {"nginx.ingress.kubernetes.io/backend-protocol", "backend-tls", "Ingress, Service",
       "alias of portico.dev/backend-protocol", "HTTP and HTTPS only"},
      {"portico.dev/backend-tls-server-name", "backend-tls", "Ingress, Service", "supported",
       "SNI and the name verified (NAME.NAMESPACE.svc)"},
      {"portico.dev/backend-tls-ca-secret", "backend-tls", "Ingress, Service", "supported",
       "a Secret whose ca.crt verifies the backend (default: no verification)"},
      {"portico.dev/proxy-body-size", "body-size", "Ingress", "supported",
       "largest request body (8m, 1g, 64Mi; 0: no limit)"},
      {"nginx.ingress.kubernetes.io/proxy-body-size", "body-size", "Ingress",
       "alias of portico.dev/proxy-body-size", ""},
      {"portico.dev/ssl-redirect", "ssl", "Ingress", "supported",
       "\"false\": no HTTP to HTTPS redirect on hosts with TLS"},
      {"nginx.ingress.kubernetes.io/ssl-redirect", "ssl", "Ingress",
       "alias of portico.dev/ssl-redirect", ""},
      {"portico.dev/force-ssl-redirect", "ssl", "Ingress", "supported",
       "\"true\": redirect to HTTPS even without TLS here (TLS in front)"},
      {"nginx.ingress.kubernetes.io/force-ssl-redirect", "ssl", "Ingress",
       "alias of portico.dev/force-ssl-redirect", ""},
      {"portico.dev/hsts", "ssl", "Ingress", "supported",
       "\"false\": no Strict-Transport-Security"},
      {"portico.dev/hsts-max-age", "ssl", "Ingress", "supported", "seconds (31536000)"},
      {"portico.dev/hsts-include-subdomains", "ssl", "Ingress", "supported", "true (default)"},
      {"portico.dev/hsts-preload", "ssl", "Ingress", "supported", "false (default)"},
  };
  return kTable;
}

std::string annotationTableMarkdown() {
  std::string out =
      "# Annotations\n\n"
      "Every annotation portico reads. Generated from `src/config/annotations/table.cc`; "
      "`tests/unit/annotations_test.cc` fails when this file is out of date (run it with "
      "`PORTICO_WRITE_DOCS=1` to rewrite it). A `portico.dev/` annotation not listed here is "
      "reported as a warning, so a typo is not silent.\n\n"
      "| annotation | family | on | status | meaning |\n"
      "| --- | --- | --- | --- | --- |\n";
  for (const auto& a : annotationTable()) {
    std::string name(a.name);
    if (name.back() == '.') {
      name += "NAME";
    }
    out += "| `" + name + "` | " + std::string(a.family) + " | " + std::string(a.applies) + " | " +
           std::string(a.status) + " | " + std::string(a.meaning) + " |\n";
  }
  return out;
}

std::pair<AnnotationIterator, AnnotationIterator> porticoAnnotations(
    const model::ObjectMeta& meta) {
  const auto first = meta.annotations.lower_bound(kPorticoPrefix);
  auto last = first;
  while (last != meta.annotations.end() && startsWith(last->first, kPorticoPrefix)) {
    ++last;
  }
  return {first, last};
}

void warnUnknown(const model::ObjectMeta& meta, const char* kind,
                 std::vector<Diagnostic>& diagnostics) {
  const auto [first, last] = porticoAnnotations(meta);
  for (auto it = first; it != last; ++it) {
    const std::string& name = it->first;
    bool known = false;
    for (const auto& a : annotationTable()) {
      known =
          known || (a.name.back() == '.' ? startsWith(name, a.name) && name.size() > a.name.size()
                                         : name == a.name);
    }
    if (!known) {
      diagnostics.push_back(Diagnostic{Diagnostic::Severity::kWarning, kind, meta.key(),
                                       "metadata.annotations[\"" + name + "\"]",
                                       "portico does not know this annotation; it has no "
                                       "effect (docs/annotations.md lists those it knows)"});
    }
  }
}

}  // namespace portico::config::annotations
