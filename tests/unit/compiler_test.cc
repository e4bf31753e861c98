// Table tests for the compiler: each case is manifests in, the whole snapshot (as JSON) and the
// diagnostics out. Every table also runs shuffled, and compiles twice for determinism.

#include "config/compiler.h"
#include "test_state.h"

#include <nlohmann/json.hpp>

namespace portico::config {
namespace {

using portico::testing::objectsFromYaml;
using portico::testing::serviceYaml;
using portico::testing::stateFrom;

struct Case {
  std::string name;
  std::string yaml;
  std::string expected;  // JSON of snapshot::toJson()
  std::vector<std::string> diagnostics;
  Options options = {};
};

// An Ingress of our class in "default" with a spec written out (tables read best whole).
std::string ingress(const std::string& name, const std::string& spec,
                    const std::string& extra_meta = "") {
  return portico::testing::IngressYaml(name).meta(extra_meta).spec(spec).str();
}

const std::string kWeb = serviceYaml("web", {"10.0.0.2", "10.0.0.1"});
const std::string kApi = serviceYaml("api", {"10.0.1.1"});

// A Secret of `type` in "default"; its PEM is never read by the compiler (the checks are its
// input), so the data stays empty.
std::string secretYaml(const std::string& name, const std::string& type = "kubernetes.io/tls") {
  return "apiVersion: v1\nkind: Secret\nmetadata: {name: " + name +
         ", namespace: default}\ntype: " + type + "\ndata: {}\n---\n";
}

SecretCheck goodCert(std::vector<std::string> names) { return SecretCheck{true, "", names}; }

Options withChecks(SecretChecks checks) {
  Options o;
  o.secret_checks = std::move(checks);
  return o;
}

const std::string kWebRule = R"(
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
)";

SecretCheck caCheck(bool ok, std::string reason = "") {
  SecretCheck c;
  c.has_ca = true;
  c.ca_ok = ok;
  c.ca_reason = std::move(reason);
  return c;
}

std::vector<Case> cases() {
  return {
      {"Backend protocol: TLS from the Ingress or the Service (which wins), SNI, CA Secrets, and "
       "every annotation that cannot apply",
       kWeb + kApi +
           serviceYaml(
               "secure", {"10.0.2.1"}, "default",
               "portico.dev/backend-protocol: https, portico.dev/backend-tls-ca-secret: ca") +
           serviceYaml("plainsvc", {"10.0.3.1"}, "default", "portico.dev/backend-protocol: HTTP") +
           serviceYaml("grpc", {"10.0.4.1"}, "default", "portico.dev/backend-protocol: GRPC") +
           secretYaml("ca", "Opaque") + secretYaml("badca", "Opaque") +
           secretYaml("noca", "Opaque") +
           ingress("a", R"(  rules:
  - host: a.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /s, pathType: Prefix, backend: {service: {name: secure, port: {number: 80}}}}
      - {path: /p, pathType: Prefix, backend: {service: {name: plainsvc, port: {number: 80}}}}
)",
                   "  annotations: {nginx.ingress.kubernetes.io/backend-protocol: HTTPS, "
                   "portico.dev/backend-tls-server-name: API.internal}\n") +
           ingress("b", R"(  rules:
  - host: b.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /g, pathType: Prefix, backend: {service: {name: grpc, port: {number: 80}}}}
      - {path: /s, pathType: Prefix, backend: {service: {name: secure, port: {number: 80}}}}
)") +
           ingress("c", "  rules:\n  - host: c.test\n    http:" + kWebRule,
                   "  annotations: {portico.dev/backend-tls-ca-secret: other/ca}\n") +
           ingress("d", "  rules:\n  - host: d.test\n    http:" + kWebRule,
                   "  annotations: {portico.dev/backend-protocol: HTTPS, "
                   "portico.dev/backend-tls-ca-secret: noca}\n") +
           ingress("e", "  rules:\n  - host: e.test\n    http:" + kWebRule,
                   "  annotations: {portico.dev/backend-tls-server-name: x.test, "
                   "portico.dev/backend-protocol: HTTP}\n") +
           ingress("f", "  rules:\n  - host: f.test\n    http:" + kWebRule,
                   "  annotations: {portico.dev/backend-protocol: HTTPS, "
                   "portico.dev/backend-tls-ca-secret: badca, "
                   "portico.dev/backend-tls-server-name: \"10.0.0.1\"}\n") +
           ingress("g", "  rules:\n  - host: g.test\n    http:" + kWebRule,
                   "  annotations: {portico.dev/backend-tls-server-name: \"*.bad\", "
                   "portico.dev/backend-protocol: HTTPS, "
                   "portico.dev/backend-tls-ca-secret: missing}\n"),
       R"({"targetGroups":[
             {"id":"default/plainsvc:80","endpoints":["10.0.3.1:8080"]},
             {"id":"default/secure:80/https;sni=api.internal;ca=default/ca","endpoints":["10.0.2.1:8080"],
              "tls":{"caSecret":"default/ca","serverName":"api.internal"}},
             {"id":"default/secure:80/https;sni=secure.default.svc;ca=default/ca","endpoints":["10.0.2.1:8080"],
              "tls":{"caSecret":"default/ca","serverName":"secure.default.svc"}},
             {"id":"default/web:80","endpoints":["10.0.0.1:8080","10.0.0.2:8080"]},
             {"id":"default/web:80/https;sni=10.0.0.1;ca=default/badca","endpoints":["10.0.0.1:8080","10.0.0.2:8080"],
              "tls":{"caSecret":"default/badca","serverName":"10.0.0.1"}},
             {"id":"default/web:80/https;sni=api.internal","endpoints":["10.0.0.1:8080","10.0.0.2:8080"],
              "tls":{"caSecret":"","serverName":"api.internal"}},
             {"id":"default/web:80/https;sni=web.default.svc;ca=default/noca","endpoints":["10.0.0.1:8080","10.0.0.2:8080"],
              "tls":{"caSecret":"default/noca","serverName":"web.default.svc"}}],
           "hosts":[
             {"host":"a.test","routes":[
               {"ingress":"default/a","match":"Prefix","path":"/s","targetGroup":"default/secure:80/https;sni=api.internal;ca=default/ca"},
               {"ingress":"default/a","match":"Prefix","path":"/p","targetGroup":"default/plainsvc:80"},
               {"ingress":"default/a","match":"Prefix","path":"","targetGroup":"default/web:80/https;sni=api.internal"}]},
             {"host":"b.test","routes":[
               {"ingress":"default/b","match":"Prefix","path":"/s","targetGroup":"default/secure:80/https;sni=secure.default.svc;ca=default/ca"},
               {"ingress":"default/b","match":"Prefix","path":"","targetGroup":"default/web:80"}]},
             {"host":"d.test","routes":[
               {"ingress":"default/d","match":"Prefix","path":"","targetGroup":"default/web:80/https;sni=web.default.svc;ca=default/noca"}]},
             {"host":"e.test","routes":[
               {"ingress":"default/e","match":"Prefix","path":"","targetGroup":"default/web:80"}]},
             {"host":"f.test","routes":[
               {"ingress":"default/f","match":"Prefix","path":"","targetGroup":"default/web:80/https;sni=10.0.0.1;ca=default/badca"}]}],
           "anyHost":{"host":"","routes":[]}})",
       {"warning: Ingress default/e: metadata.annotations: backend-tls-server-name and "
        "backend-tls-ca-secret apply only with portico.dev/backend-protocol: HTTPS; the backend is "
        "spoken to in plain HTTP",
        "error: Ingress default/b: spec.rules[0].http.paths[1].backend.service.name: Service "
        "default/grpc has an annotation with a bad value (see its diagnostic); the backend is left "
        "out",
        "error: Ingress default/c: metadata.annotations[\"portico.dev/backend-tls-ca-secret\"]: "
        "\"other/ca\" is not a Secret name: the Secret must be in the Ingress's own namespace, so "
        "write its name alone; the Ingress's rules are left out",
        "error: Ingress default/d: metadata.annotations[\"portico.dev/backend-tls-ca-secret\"]: "
        "Secret default/noca has no ca.crt; connections to the backend fail until it is fixed",
        "error: Ingress default/f: metadata.annotations[\"portico.dev/backend-tls-ca-secret\"]: "
        "Secret default/badca: ca.crt: no PEM certificate in it; connections to the backend fail "
        "until it is fixed",
        "error: Ingress default/g: metadata.annotations[\"portico.dev/backend-tls-server-name\"]: "
        "\"*.bad\" is not a DNS name or an IP address (no wildcard, no port); the Ingress's rules "
        "are left out",
        "error: Service default/grpc: metadata.annotations[\"portico.dev/backend-protocol\"]: "
        "\"GRPC\" is not a supported backend protocol (\"HTTP\" or \"HTTPS\"; GRPC, GRPCS, FCGI "
        "and AUTO_HTTP are not supported yet)"},
       withChecks({{"default/ca", caCheck(true)},
                   {"default/badca", caCheck(false, "ca.crt: no PEM certificate in it")},
                   {"default/noca", SecretCheck{}}})},
      {"TLS hosts from Secrets, a wildcard, and every Secret that cannot serve",
       kWeb + secretYaml("good") + secretYaml("bad") + secretYaml("opaque", "Opaque") +
           ingress("a", R"(  tls:
  - {hosts: [A.test, "*.w.test"], secretName: good}
  - {hosts: [b.test], secretName: bad}
  - {hosts: [c.test], secretName: missing}
  - {hosts: [d.test], secretName: opaque}
  - {hosts: [e.test]}
  - {hosts: ["bad host"], secretName: good}
  rules:
  - host: a.test
    http:)" + kWebRule),
       R"({"targetGroups":[{"id":"default/web:80","endpoints":["10.0.0.1:8080","10.0.0.2:8080"]}],
           "hosts":[{"host":"a.test","routes":[
             {"match":"Prefix","path":"","targetGroup":"default/web:80","ingress":"default/a",
              "policies":{"sslRedirect":{"port":443,"status":308},"hsts":{"value":"max-age=31536000; includeSubDomains"}}}]}],
           "anyHost":{"host":"","routes":[]},
           "tls":[{"host":"*.w.test","secret":"default/good"},{"host":"a.test","secret":"default/good"},
                  {"host":"b.test","secret":"","asked":"default/bad"},{"host":"c.test","secret":""},
                  {"host":"d.test","secret":""},{"host":"e.test","secret":""}]})",
       {"error: Ingress default/a: spec.tls[1].secretName: Secret default/bad: tls.key does not "
        "match the certificate in tls.crt; its hosts get the default certificate",
        "error: Ingress default/a: spec.tls[2].secretName: Secret default/missing not found (or "
        "not of type kubernetes.io/tls); its hosts get the default certificate",
        "error: Ingress default/a: spec.tls[3].secretName: Secret default/opaque not found (or "
        "not of type kubernetes.io/tls); its hosts get the default certificate",
        "error: Ingress default/a: spec.tls[5].hosts[0]: \"bad host\" invalid character ' ' (a "
        "DNS name is [a-z0-9.-])"},
       withChecks({{"default/good", goodCert({"a.test", "*.w.test"})},
                   {"default/bad",
                    SecretCheck{false, "tls.key does not match the certificate in tls.crt", {}}}})},
      {"HTTPS annotations: no redirect, forced redirect, HSTS settings, a wildcard TLS host, bad "
       "values",
       kWeb + secretYaml("good") +
           ingress("a", R"(  tls:
  - {hosts: [a.test, "*.w.test"], secretName: good}
  rules:
  - host: a.test
    http:)" + kWebRule + R"(  - host: x.w.test
    http:)" + kWebRule,
                   R"(  annotations:
    portico.dev/ssl-redirect: "False"
    portico.dev/hsts-max-age: "60"
    portico.dev/hsts-include-subdomains: "false"
    portico.dev/hsts-preload: "TRUE"
)") +
           ingress("b", R"(  rules:
  - host: plain.test
    http:)" + kWebRule,
                   R"(  annotations:
    nginx.ingress.kubernetes.io/force-ssl-redirect: "true"
)") +
           ingress("c", R"(  tls:
  - {hosts: [c.test], secretName: good}
  rules:
  - host: c.test
    http:)" + kWebRule,
                   R"(  annotations:
    portico.dev/hsts: "false"
)") +
           ingress("d", R"(  rules:
  - host: d.test
    http:)" + kWebRule,
                   R"(  annotations:
    portico.dev/ssl-redirect: "yes"
    portico.dev/hsts-max-age: "-1"
)"),
       R"({"targetGroups":[{"id":"default/web:80","endpoints":["10.0.0.1:8080","10.0.0.2:8080"]}],
           "hosts":[{"host":"a.test","routes":[
             {"match":"Prefix","path":"","targetGroup":"default/web:80","ingress":"default/a",
              "policies":{"hsts":{"value":"max-age=60; preload"}}}]},
                    {"host":"c.test","routes":[
             {"match":"Prefix","path":"","targetGroup":"default/web:80","ingress":"default/c",
              "policies":{"sslRedirect":{"port":8443,"status":308}}}]},
                    {"host":"plain.test","routes":[
             {"match":"Prefix","path":"","targetGroup":"default/web:80","ingress":"default/b",
              "policies":{"sslRedirect":{"port":8443,"status":308}}}]},
                    {"host":"x.w.test","routes":[
             {"match":"Prefix","path":"","targetGroup":"default/web:80","ingress":"default/a",
              "policies":{"hsts":{"value":"max-age=60; preload"}}}]}],
           "anyHost":{"host":"","routes":[]},
           "tls":[{"host":"*.w.test","secret":"default/good"},{"host":"a.test","secret":"default/good"},
                  {"host":"c.test","secret":"default/good"}]})",
       {"error: Ingress default/d: metadata.annotations[\"portico.dev/hsts-max-age\"]: \"-1\" is "
        "not a number of seconds (at most 20 years); the Ingress's rules are left out",
        "error: Ingress default/d: metadata.annotations[\"portico.dev/ssl-redirect\"]: \"yes\" is "
        "not \"true\" or \"false\"; the Ingress's rules are left out"},
       [] {
         Options o = withChecks({{"default/good", goodCert({"a.test", "*.w.test", "c.test"})}});
         o.tls.redirect_port = 8443;
         return o;
       }()},
      {"TLS without hosts covers the rule hosts; the oldest Ingress wins a host",
       kWeb + secretYaml("good") + secretYaml("other") + ingress("a", R"(  tls:
  - {secretName: good}
  rules:
  - host: a.test
    http:)" + kWebRule + R"(  - host: x.test
    http:)" + kWebRule) +
           ingress("b", R"(  tls:
  - {hosts: [a.test, y.test], secretName: other}
)"),
       R"({"targetGroups":[{"id":"default/web:80","endpoints":["10.0.0.1:8080","10.0.0.2:8080"]}],
           "hosts":[{"host":"a.test","routes":[
             {"match":"Prefix","path":"","targetGroup":"default/web:80","ingress":"default/a",
              "policies":{"sslRedirect":{"port":443,"status":308},"hsts":{"value":"max-age=31536000; includeSubDomains"}}}]},
                    {"host":"x.test","routes":[
             {"match":"Prefix","path":"","targetGroup":"default/web:80","ingress":"default/a",
              "policies":{"sslRedirect":{"port":443,"status":308},"hsts":{"value":"max-age=31536000; includeSubDomains"}}}]}],
           "anyHost":{"host":"","routes":[]},
           "tls":[{"host":"a.test","secret":"default/good"},{"host":"x.test","secret":"default/good"},
                  {"host":"y.test","secret":"default/other"}]})",
       {"warning: Ingress default/a: spec.rules[1].host: the certificate of Secret default/good "
        "does not name \"x.test\"; clients will not trust it for this host",
        "warning: Ingress default/b: spec.tls[0].hosts[0]: host \"a.test\" already has TLS from "
        "Ingress default/a, which takes precedence"},
       withChecks({{"default/good", goodCert({"a.test"})},
                   {"default/other", goodCert({"a.test", "y.test"})}})},
      {"host and prefix path",
       kWeb + ingress("a", R"(  rules:
  - host: Foo.Example.com
    http:
      paths:
      - {path: /app/, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
)"),
       R"({"targetGroups":[{"id":"default/web:80","endpoints":["10.0.0.1:8080","10.0.0.2:8080"]}],
           "hosts":[{"host":"foo.example.com","routes":[
             {"match":"Prefix","path":"/app","targetGroup":"default/web:80","ingress":"default/a"}]}],
           "anyHost":{"host":"","routes":[]}})",
       {}},
      {"longest path first, Exact before Prefix on equal length, named port",
       kWeb + kApi + ingress("a", R"(  rules:
  - host: h
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {name: http}}}}
      - {path: /api, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}
      - {path: /api, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /api/v1/x, pathType: Exact, backend: {service: {name: api, port: {number: 80}}}}
)"),
       R"({"targetGroups":[{"id":"default/api:80","endpoints":["10.0.1.1:8080"]},
                          {"id":"default/web:80","endpoints":["10.0.0.1:8080","10.0.0.2:8080"]}],
           "hosts":[{"host":"h","routes":[
             {"match":"Exact","path":"/api/v1/x","targetGroup":"default/api:80","ingress":"default/a"},
             {"match":"Exact","path":"/api","targetGroup":"default/web:80","ingress":"default/a"},
             {"match":"Prefix","path":"/api","targetGroup":"default/api:80","ingress":"default/a"},
             {"match":"Prefix","path":"","targetGroup":"default/web:80","ingress":"default/a"}]}],
           "anyHost":{"host":"","routes":[]}})",
       {}},
      {"wildcard host, rules without host, ImplementationSpecific and empty path",
       kWeb + ingress("a", R"(  rules:
  - host: "*.example.com"
    http:
      paths:
      - {path: /w, pathType: ImplementationSpecific, backend: {service: {name: web, port: {number: 80}}}}
  - http:
      paths:
      - {pathType: ImplementationSpecific, backend: {service: {name: web, port: {number: 80}}}}
)"),
       R"({"targetGroups":[{"id":"default/web:80","endpoints":["10.0.0.1:8080","10.0.0.2:8080"]}],
           "hosts":[{"host":"*.example.com","routes":[
             {"match":"Prefix","path":"/w","targetGroup":"default/web:80","ingress":"default/a"}]}],
           "anyHost":{"host":"","routes":[
             {"match":"Prefix","path":"","targetGroup":"default/web:80","ingress":"default/a"}]}})",
       {}},
      {"defaultBackend: the oldest Ingress naming the host, and the oldest overall for the rest",
       kWeb + kApi +
           ingress("new", R"(  defaultBackend: {service: {name: web, port: {number: 80}}}
  rules:
  - host: h
    http:
      paths:
      - {path: /n, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
)",
                   "  creationTimestamp: \"2024-02-01T00:00:00Z\"\n") +
           ingress("old", R"(  defaultBackend: {service: {name: api, port: {number: 80}}}
  rules:
  - host: other
    http:
      paths:
      - {path: /o, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
)",
                   "  creationTimestamp: \"2024-01-01T00:00:00Z\"\n"),
       R"({"targetGroups":[{"id":"default/api:80","endpoints":["10.0.1.1:8080"]},
                          {"id":"default/web:80","endpoints":["10.0.0.1:8080","10.0.0.2:8080"]}],
           "hosts":[
             {"host":"h","defaultTargetGroup":"default/web:80","routes":[
               {"match":"Prefix","path":"/n","targetGroup":"default/web:80","ingress":"default/new"}]},
             {"host":"other","defaultTargetGroup":"default/api:80","routes":[
               {"match":"Prefix","path":"/o","targetGroup":"default/web:80","ingress":"default/old"}]}],
           "anyHost":{"host":"","defaultTargetGroup":"default/api:80","routes":[]}})",
       {}},
      {"controller default backend when no Ingress has one",
       kWeb + serviceYaml("fallback", {"10.9.9.9"}, "system") + ingress("a", R"(  rules:
  - host: h
    http:
      paths:
      - {path: /a, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}
)"),
       R"({"targetGroups":[{"id":"default/web:80","endpoints":["10.0.0.1:8080","10.0.0.2:8080"]},
                          {"id":"system/fallback:80","endpoints":["10.9.9.9:8080"]}],
           "hosts":[{"host":"h","defaultTargetGroup":"system/fallback:80","routes":[
             {"match":"Exact","path":"/a","targetGroup":"default/web:80","ingress":"default/a"}]}],
           "anyHost":{"host":"","defaultTargetGroup":"system/fallback:80","routes":[]}})",
       {},
       Options{"portico", "portico.dev/ingress-controller", false, "system/fallback"}},
      {"class selection: ours by name, by IngressClass, by annotation, by default class",
       kWeb + R"(apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: mine, annotations: {ingressclass.kubernetes.io/is-default-class: "true"}}
spec: {controller: portico.dev/ingress-controller}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: nginx}
spec: {controller: k8s.io/ingress-nginx}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: by-class, namespace: default}
spec:
  ingressClassName: mine
  rules: [{host: a, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: foreign, namespace: default}
spec:
  ingressClassName: nginx
  rules: [{host: b, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: missing, port: {number: 80}}}}]}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: annotated, namespace: default, annotations: {kubernetes.io/ingress.class: portico}}
spec:
  ingressClassName: nginx
  rules: [{host: c, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: annotated-foreign, namespace: default, annotations: {kubernetes.io/ingress.class: nginx}}
spec:
  rules: [{host: d, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: classless, namespace: default}
spec:
  rules: [{host: e, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}}]
---
)",
       R"({"targetGroups":[{"id":"default/web:80","endpoints":["10.0.0.1:8080","10.0.0.2:8080"]}],
           "hosts":[
             {"host":"a","routes":[{"match":"Prefix","path":"","targetGroup":"default/web:80","ingress":"default/by-class"}]},
             {"host":"c","routes":[{"match":"Prefix","path":"","targetGroup":"default/web:80","ingress":"default/annotated"}]},
             {"host":"e","routes":[{"match":"Prefix","path":"","targetGroup":"default/web:80","ingress":"default/classless"}]}],
           "anyHost":{"host":"","routes":[]}})",
       {}},
      {"class-less Ingresses are ignored unless asked for",
       kWeb + R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: classless, namespace: default}
spec:
  rules: [{host: e, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}}]
---
)",
       R"({"targetGroups":[],"hosts":[],"anyHost":{"host":"","routes":[]}})",
       {}},
      {"class-less Ingresses with --watch-ingress-without-class",
       kWeb + R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: classless, namespace: default}
spec:
  rules: [{host: e, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}}]
---
)",
       R"({"targetGroups":[{"id":"default/web:80","endpoints":["10.0.0.1:8080","10.0.0.2:8080"]}],
           "hosts":[{"host":"e","routes":[{"match":"Prefix","path":"","targetGroup":"default/web:80","ingress":"default/classless"}]}],
           "anyHost":{"host":"","routes":[]}})",
       {},
       Options{"portico", "portico.dev/ingress-controller", true, ""}},
      {"bad backends, paths, hosts and path types are left out with a diagnostic",
       kWeb + ingress("bad", R"(  rules:
  - host: h
    http:
      paths:
      - {path: /missing, pathType: Prefix, backend: {service: {name: nope, port: {number: 80}}}}
      - {path: /noport, pathType: Prefix, backend: {service: {name: web, port: {number: 81}}}}
      - {path: /noname, pathType: Prefix, backend: {service: {name: web, port: {name: grpc}}}}
      - {path: /both, pathType: Prefix, backend: {service: {name: web, port: {name: http, number: 80}}}}
      - {path: /res, pathType: Prefix, backend: {resource: {kind: Bucket, name: b}}}
      - {path: relative, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /a//b, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /x, pathType: Regex, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /y, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /good, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
  - host: "bad_host.example.com"
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
  - host: "a.*.example.com"
  - host: "h:8080"
)"),
       R"({"targetGroups":[{"id":"default/web:80","endpoints":["10.0.0.1:8080","10.0.0.2:8080"]}],
           "hosts":[{"host":"h","routes":[
             {"match":"Prefix","path":"/good","targetGroup":"default/web:80","ingress":"default/bad"}]}],
           "anyHost":{"host":"","routes":[]}})",
       {
           "error: Ingress default/bad: spec.rules[0].http.paths[0].backend.service.name: Service "
           "default/nope not found",
           "error: Ingress default/bad: spec.rules[0].http.paths[1].backend.service.port: Service "
           "default/web has no port 81",
           "error: Ingress default/bad: spec.rules[0].http.paths[2].backend.service.port: Service "
           "default/web has no port named grpc",
           "error: Ingress default/bad: spec.rules[0].http.paths[3].backend.service.port: set "
           "exactly one of number and name",
           "error: Ingress default/bad: spec.rules[0].http.paths[4].backend.resource: resource "
           "backends are not supported; use a service backend",
           "error: Ingress default/bad: spec.rules[0].http.paths[5].path: \"relative\" must be an "
           "absolute path (start with '/')",
           "error: Ingress default/bad: spec.rules[0].http.paths[6].path: \"/a//b\" must not "
           "contain '//'",
           "error: Ingress default/bad: spec.rules[0].http.paths[7].pathType: \"Regex\" is not one "
           "of Exact, Prefix, ImplementationSpecific",
           "error: Ingress default/bad: spec.rules[0].http.paths[8].pathType: required: one of "
           "Exact, Prefix, ImplementationSpecific",
           "error: Ingress default/bad: spec.rules[1].host: \"bad_host.example.com\" invalid "
           "character '_' (a DNS name is [a-z0-9.-])",
           "error: Ingress default/bad: spec.rules[2].host: \"a.*.example.com\" a wildcard is "
           "allowed only as the whole first label (\"*.example.com\")",
           "error: Ingress default/bad: spec.rules[3].host: \"h:8080\" must not carry a port",
       }},
      {"duplicates across Ingresses: the oldest wins; no timestamp counts as newest",
       kWeb + kApi + ingress("b-young", R"(  rules:
  - host: h
    http:
      paths:
      - {path: /p/, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /only-young, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
)") +
           ingress("z-old", R"(  rules:
  - host: h
    http:
      paths:
      - {path: /p, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}
)",
                   "  creationTimestamp: \"2023-05-01T00:00:00Z\"\n"),
       R"({"targetGroups":[{"id":"default/api:80","endpoints":["10.0.1.1:8080"]},
                          {"id":"default/web:80","endpoints":["10.0.0.1:8080","10.0.0.2:8080"]}],
           "hosts":[{"host":"h","routes":[
             {"match":"Prefix","path":"/only-young","targetGroup":"default/web:80","ingress":"default/b-young"},
             {"match":"Prefix","path":"/p","targetGroup":"default/api:80","ingress":"default/z-old"}]}],
           "anyHost":{"host":"","routes":[]}})",
       {"warning: Ingress default/b-young: spec.rules[0].http.paths[0]: duplicate of a rule of "
        "Ingress default/z-old (host \"h\", Prefix \"/p/\"), which takes precedence"}},
      {"endpoints: named target ports per slice, several slices merged, terminating ones "
       "draining, starting ones left out",
       R"(apiVersion: v1
kind: Service
metadata: {name: svc, namespace: ns}
spec:
  ports:
  - {name: web, port: 80, targetPort: http}
  - {name: metrics, port: 9100, targetPort: 9100}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: svc-1, namespace: ns, labels: {kubernetes.io/service-name: svc}}
addressType: IPv4
ports: [{name: web, port: 8080}, {name: metrics, port: 9100}]
endpoints:
- addresses: ["10.1.0.1"]
  conditions: {ready: true}
- addresses: ["10.1.0.2"]
  conditions: {ready: false, terminating: true}
- addresses: ["10.1.0.5"]
  conditions: {ready: false}
- addresses: ["10.1.0.3"]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: svc-2, namespace: ns, labels: {kubernetes.io/service-name: svc}}
addressType: IPv4
ports: [{name: web, port: 8081}]
endpoints:
- addresses: ["10.1.0.4"]
- addresses: ["10.1.0.1"]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: other, namespace: ns, labels: {kubernetes.io/service-name: not-svc}}
addressType: IPv4
ports: [{name: web, port: 1}]
endpoints: [{addresses: ["10.9.0.1"]}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: i, namespace: ns}
spec:
  ingressClassName: portico
  rules: [{host: h, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: svc, port: {name: web}}}}]}}]
---
)",
       R"({"targetGroups":[{"id":"ns/svc:80","endpoints":["10.1.0.1:8080","10.1.0.1:8081","10.1.0.2:8080 draining","10.1.0.3:8080","10.1.0.4:8081"]}],
           "hosts":[{"host":"h","routes":[{"match":"Prefix","path":"","targetGroup":"ns/svc:80","ingress":"ns/i"}]}],
           "anyHost":{"host":"","routes":[]}})",
       {}},
      {"a Service without endpoints still routes (to a 503)",
       serviceYaml("empty", {}) + ingress("a", R"(  rules:
  - host: h
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: empty, port: {number: 80}}}}
)"),
       R"({"targetGroups":[{"id":"default/empty:80","endpoints":[]}],
           "hosts":[{"host":"h","routes":[{"match":"Prefix","path":"","targetGroup":"default/empty:80","ingress":"default/a"}]}],
           "anyHost":{"host":"","routes":[]}})",
       {}},
      {"a bad defaultBackend and a bad controller default are reported",
       kWeb + ingress("a", R"(  defaultBackend: {service: {name: gone, port: {number: 80}}}
  rules:
  - host: h
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
)"),
       R"({"targetGroups":[{"id":"default/web:80","endpoints":["10.0.0.1:8080","10.0.0.2:8080"]}],
           "hosts":[{"host":"h","routes":[{"match":"Prefix","path":"","targetGroup":"default/web:80","ingress":"default/a"}]}],
           "anyHost":{"host":"","routes":[]}})",
       {"error: Controller --default-backend-service: Service kube-system/none not found",
        "error: Ingress default/a: spec.defaultBackend.service.name: Service default/gone not "
        "found"},
       Options{"portico", "portico.dev/ingress-controller", false, "kube-system/none"}},
      {"the body size annotation becomes each route's BodyLimit policy; ours over nginx's",
       kWeb +
           ingress("a", R"(  rules:
  - host: h
    http:
      paths:
      - {path: /up, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
)",
                   "  annotations: {portico.dev/proxy-body-size: 8m, "
                   "nginx.ingress.kubernetes.io/proxy-body-size: 1k}\n") +
           ingress("b", R"(  rules:
  - host: h
    http:
      paths:
      - {path: /any, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
)",
                   "  annotations: {nginx.ingress.kubernetes.io/proxy-body-size: \"0\"}\n"),
       R"({"targetGroups":[{"id":"default/web:80","endpoints":["10.0.0.1:8080","10.0.0.2:8080"]}],
           "hosts":[{"host":"h","routes":[
             {"match":"Prefix","path":"/any","targetGroup":"default/web:80","ingress":"default/b",
              "policies":{"bodyLimit":{"maxBytes":0}}},
             {"match":"Prefix","path":"/up","targetGroup":"default/web:80","ingress":"default/a",
              "policies":{"bodyLimit":{"maxBytes":8388608}}}]}],
           "anyHost":{"host":"","routes":[]}})",
       {}},
      {"a bad annotation leaves that Ingress's rules out, and only those",
       kWeb +
           ingress("a", R"(  rules:
  - host: bad
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
)",
                   "  annotations: {portico.dev/proxy-body-size: lots}\n") +
           ingress("b", R"(  rules:
  - host: good
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
)"),
       R"({"targetGroups":[{"id":"default/web:80","endpoints":["10.0.0.1:8080","10.0.0.2:8080"]}],
           "hosts":[{"host":"good","routes":[
             {"match":"Prefix","path":"","targetGroup":"default/web:80","ingress":"default/b"}]}],
           "anyHost":{"host":"","routes":[]}})",
       {"error: Ingress default/a: metadata.annotations[\"portico.dev/proxy-body-size\"]: "
        "\"lots\" is not a size (like 8m, 1g, 64Mi or 0 for none); the Ingress's rules are "
        "left out"}},
      {"losing duplicates and losing defaultBackends make no target group",
       kWeb + kApi + ingress("a", R"(  defaultBackend: {service: {name: web, port: {number: 80}}}
  rules:
  - host: h
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
)") + ingress("b", R"(  defaultBackend: {service: {name: api, port: {number: 80}}}
  rules:
  - host: h
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}
)"),
       R"({"targetGroups":[{"id":"default/web:80","endpoints":["10.0.0.1:8080","10.0.0.2:8080"]}],
           "hosts":[{"host":"h","routes":[
             {"match":"Prefix","path":"","targetGroup":"default/web:80","ingress":"default/a"}],
             "defaultTargetGroup":"default/web:80"}],
           "anyHost":{"host":"","routes":[],"defaultTargetGroup":"default/web:80"}})",
       {"warning: Ingress default/b: spec.rules[0].http.paths[0]: duplicate of a rule of Ingress "
        "default/a (host \"h\", Prefix \"/\"), which takes precedence"}},
      {"Conditions: every field, keys in any case, tried before the plain rule on the same path; "
       "a bad condition leaves out only its rule",
       kWeb + kApi +
           ingress("a", R"(  rules:
  - host: a.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}
      - {path: /x, pathType: Exact, backend: {service: {name: bad, port: {number: 80}}}}
)",
                   R"(  annotations:
    portico.dev/conditions.api: >-
      [{"field": "http-header", "httpHeaderConfig": {"httpHeaderName": "X-Env", "Values": ["canary", "beta-*"]}},
       {"Field": "query-string", "QueryStringConfig": {"values": [{"key": "v", "value": "2"}, {"value": "x?"}]}},
       {"field": "http-request-method", "httpRequestMethodConfig": {"values": ["GET", "HEAD"]}},
       {"field": "source-ip", "sourceIpConfig": {"values": ["10.1.2.3/8", "2001:db8::1/32"]}},
       {"field": "host-header", "hostHeaderConfig": {"values": ["*.Example.com"]}},
       {"field": "path-pattern", "values": ["/api/*"]}]
    portico.dev/conditions.bad: '[{"field": "cookie", "values": ["a"]}]'
)") +
           ingress("b", R"(  rules:
  - host: a.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}
      - {path: /m, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /j, pathType: Prefix, backend: {service: {name: api, port: {number: 8080}}}}
)",
                   R"(  annotations:
    portico.dev/conditions.api: '[{"field": "http-request-method", "httpRequestMethodConfig": {"values": ["PO*"]}}]'
    portico.dev/conditions.web: '[{"field": "source-ip", "sourceIpConfig": {"values": ["10.0.0.0/33"]}}]'
)"),
       R"({"targetGroups":[{"id":"default/api:80","endpoints":["10.0.1.1:8080"]},
                           {"id":"default/web:80","endpoints":["10.0.0.1:8080","10.0.0.2:8080"]}],
           "hosts":[{"host":"a.test","routes":[
             {"match":"Prefix","path":"","targetGroup":"default/api:80","ingress":"default/a",
              "conditions":[
                {"field":"http-header","header":"x-env","values":["canary","beta-*"]},
                {"field":"query-string","values":[{"key":"v","value":"2"},{"value":"x?"}]},
                {"field":"http-request-method","values":["GET","HEAD"]},
                {"field":"source-ip","values":["10.0.0.0/8","2001:db8:0:0:0:0:0:0/32"]},
                {"field":"host-header","values":["*.example.com"]},
                {"field":"path-pattern","values":["/api/*"]}]},
             {"match":"Prefix","path":"","targetGroup":"default/web:80","ingress":"default/a"}]}],
           "anyHost":{"host":"","routes":[]}})",
       {"error: Ingress default/a: metadata.annotations[\"portico.dev/conditions.bad\"]: "
        "\"cookie\" "
        "is not a condition field (http-header, query-string, http-request-method, source-ip, "
        "host-header, path-pattern)",
        "error: Ingress default/b: metadata.annotations[\"portico.dev/conditions.api\"]: "
        "http-request-method: \"PO*\" is not a method name (no wildcards)",
        "error: Ingress default/b: metadata.annotations[\"portico.dev/conditions.web\"]: "
        "source-ip: \"10.0.0.0/33\" is not a CIDR (like 10.0.0.0/8 or 2001:db8::/32)"}},
      {"Actions: weighted forward with stickiness, redirect, fixed response, and each mistake",
       kWeb + kApi + serviceYaml("named", {"10.0.5.1"}) +
           ingress("a", R"(  rules:
  - host: a.test
    http:
      paths:
      - {path: /split, pathType: Prefix, backend: {service: {name: split, port: {name: use-annotation}}}}
      - {path: /old, pathType: Prefix, backend: {service: {name: moved, port: {name: use-annotation}}}}
      - {path: /down, pathType: Exact, backend: {service: {name: down, port: {name: use-annotation}}}}
      - {path: /none, pathType: Prefix, backend: {service: {name: nothing, port: {name: use-annotation}}}}
      - {path: /zero, pathType: Prefix, backend: {service: {name: zero, port: {name: use-annotation}}}}
      - {path: /gone, pathType: Prefix, backend: {service: {name: gone, port: {name: use-annotation}}}}
      - {path: /loop, pathType: Prefix, backend: {service: {name: loop, port: {name: use-annotation}}}}
)",
                   R"(  annotations:
    portico.dev/actions.split: >-
      {"type": "forward", "forwardConfig": {"targetGroups": [
        {"serviceName": "web", "servicePort": "80", "weight": 70},
        {"serviceName": "api", "servicePort": 80, "weight": 30},
        {"serviceName": "named", "servicePort": 80, "weight": 0}],
       "targetGroupStickinessConfig": {"enabled": true, "durationSeconds": 600}}}
    portico.dev/actions.moved: >-
      {"Type": "redirect", "RedirectConfig": {"protocol": "HTTPS", "host": "new.test",
       "path": "/new/#{path}", "statusCode": "HTTP_302"}}
    portico.dev/actions.down: >-
      {"type": "fixed-response", "fixedResponseConfig": {"statusCode": "503",
       "contentType": "application/json", "messageBody": "{\"down\": true}"}}
    portico.dev/actions.zero: >-
      {"type": "forward", "forwardConfig": {"targetGroups": [{"serviceName": "web", "servicePort": 80, "weight": 0}]}}
    portico.dev/actions.gone: >-
      {"type": "forward", "forwardConfig": {"targetGroups": [{"serviceName": "missing", "servicePort": 80}]}}
    portico.dev/actions.loop: '{"type": "redirect", "redirectConfig": {"statusCode": "HTTP_301"}}'
    portico.dev/helthcheck-path: /typo
    portico.dev/conditions.splitt: '[{"field": "http-request-method", "httpRequestMethodConfig": {"values": ["GET"]}}]'
)"),
       R"({"targetGroups":[{"id":"default/api:80","endpoints":["10.0.1.1:8080"]},
                           {"id":"default/named:80","endpoints":["10.0.5.1:8080"]},
                           {"id":"default/web:80","endpoints":["10.0.0.1:8080","10.0.0.2:8080"]}],
           "hosts":[{"host":"a.test","routes":[
             {"match":"Prefix","path":"/split","ingress":"default/a",
              "action":{"forward":[{"targetGroup":"default/web:80","weight":70},
                                   {"targetGroup":"default/api:80","weight":30},
                                   {"targetGroup":"default/named:80","weight":0}],
                        "stickiness":{"cookie":"portico-tg","seconds":600}}},
             {"match":"Exact","path":"/down","ingress":"default/a",
              "action":{"fixedResponse":{"status":503,"contentType":"application/json","body":"{\"down\": true}"}}},
             {"match":"Prefix","path":"/old","ingress":"default/a",
              "action":{"redirect":{"protocol":"https","host":"new.test","port":"#{port}",
                                    "path":"/new/#{path}","query":"#{query}","status":302}}}]}],
           "anyHost":{"host":"","routes":[]}})",
       {"warning: Ingress default/a: metadata.annotations[\"portico.dev/conditions.splitt\"]: no "
        "backend of the Ingress is named \"splitt\": the annotation has no effect",
        "warning: Ingress default/a: metadata.annotations[\"portico.dev/helthcheck-path\"]: "
        "portico does not know this annotation; it has no effect (docs/annotations.md lists those "
        "it knows)",
        "error: Ingress default/a: metadata.annotations[\"portico.dev/actions.gone\"]."
        "forwardConfig.targetGroups[0].name: Service default/missing not found",
        "error: Ingress default/a: metadata.annotations[\"portico.dev/actions.loop\"]: "
        "redirectConfig changes nothing: the client would be sent where it is (a loop)",
        "error: Ingress default/a: metadata.annotations[\"portico.dev/actions.zero\"]: the "
        "weights of targetGroups sum to 0: nothing would get traffic",
        "error: Ingress default/a: spec.rules[0].http.paths[3].backend.service.port.name: port "
        "\"use-annotation\" asks for annotation portico.dev/actions.nothing, which the Ingress "
        "does "
        "not have"}},
      {"Target group settings from the Ingress and the Service (which wins), defaults filled in, "
       "and bad values",
       kWeb + kApi +
           serviceYaml("hashed", {"10.0.6.1"}, "default",
                       "portico.dev/load-balancing-algorithm: ring_hash, "
                       "portico.dev/load-balancing-hash-key: \"header:X-User\", "
                       "portico.dev/healthcheck-path: /svc") +
           serviceYaml("broken", {"10.0.7.1"}, "default",
                       "portico.dev/healthcheck-interval-seconds: \"0\"") +
           ingress("a", R"(  rules:
  - host: a.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /h, pathType: Prefix, backend: {service: {name: hashed, port: {number: 80}}}}
      - {path: /b, pathType: Prefix, backend: {service: {name: broken, port: {number: 80}}}}
)",
                   R"(  annotations:
    portico.dev/healthcheck-path: /healthz
    portico.dev/healthcheck-protocol: tcp
    portico.dev/healthcheck-interval-seconds: "3"
    portico.dev/success-codes: "200-299,302"
    portico.dev/load-balancing-algorithm: least_request
    portico.dev/slow-start-seconds: "30"
)") +
           ingress("b", R"(  rules:
  - host: b.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}
)",
                   R"(  annotations:
    portico.dev/healthcheck-interval-seconds: "5"
    portico.dev/healthcheck-timeout-seconds: "6"
    portico.dev/load-balancing-algorithm: fastest
    portico.dev/group.order: "2000"
)"),
       R"({"targetGroups":[
             {"id":"default/hashed:80","endpoints":["10.0.6.1:8080"],
              "settings":{"algorithm":"ring_hash","hashOn":{"kind":"header","name":"x-user"},
                          "slowStartSeconds":30,"deregistrationDelaySeconds":300,
                          "ejectionFailures":5,"ejectionSeconds":30,
                          "healthCheck":{"protocol":"TCP","path":"/svc","port":0,"intervalSeconds":3,
                                         "timeoutSeconds":3,"healthyThreshold":2,"unhealthyThreshold":2,
                                         "successCodes":["200-299","302"]}}},
             {"id":"default/web:80","endpoints":["10.0.0.1:8080","10.0.0.2:8080"],
              "settings":{"algorithm":"least_request","slowStartSeconds":30,
                          "deregistrationDelaySeconds":300,"ejectionFailures":5,"ejectionSeconds":30,
                          "healthCheck":{"protocol":"TCP","path":"/healthz","port":0,"intervalSeconds":3,
                                         "timeoutSeconds":3,"healthyThreshold":2,"unhealthyThreshold":2,
                                         "successCodes":["200-299","302"]}}}],
           "hosts":[{"host":"a.test","routes":[
             {"match":"Prefix","path":"/h","targetGroup":"default/hashed:80","ingress":"default/a"},
             {"match":"Prefix","path":"","targetGroup":"default/web:80","ingress":"default/a"}]}],
           "anyHost":{"host":"","routes":[]}})",
       {"error: Ingress default/a: spec.rules[0].http.paths[2].backend.service.name: Service "
        "default/broken has an annotation with a bad value (see its diagnostic); the backend is "
        "left out",
        "error: Ingress default/b: metadata.annotations[\"portico.dev/group.order\"]: \"2000\" "
        "must be a whole number from -1000 to 1000; the Ingress's rules are left out",
        "error: Ingress default/b: "
        "metadata.annotations[\"portico.dev/healthcheck-timeout-seconds\"]: "
        "\"6\" must be at most the interval (5 s); the Ingress's rules are left out",
        "error: Ingress default/b: metadata.annotations[\"portico.dev/load-balancing-algorithm\"]: "
        "\"fastest\" must be round_robin, least_request, ewma, random or ring_hash; the Ingress's "
        "rules are left out",
        "error: Service default/broken: "
        "metadata.annotations[\"portico.dev/healthcheck-interval-seconds\"]: "
        "\"0\" must be a whole number from 1 to 300"}},
      {"group.order: a lower order takes a duplicate and goes first among conditioned rules on "
       "the same path, whatever the age",
       kWeb + kApi +
           ingress("old", R"(  rules:
  - host: h
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /c, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
)",
                   "  creationTimestamp: \"2020-01-01T00:00:00Z\"\n"
                   "  annotations:\n    portico.dev/conditions.web: '[{\"field\": "
                   "\"http-request-method\", \"httpRequestMethodConfig\": {\"values\": "
                   "[\"GET\"]}}]'\n") +
           ingress("new", R"(  rules:
  - host: h
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /c, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}
)",
                   "  creationTimestamp: \"2024-01-01T00:00:00Z\"\n"
                   "  annotations:\n    portico.dev/group.order: \"-5\"\n"
                   "    portico.dev/conditions.api: '[{\"field\": \"http-request-method\", "
                   "\"httpRequestMethodConfig\": {\"values\": [\"POST\"]}}]'\n"
                   "    portico.dev/conditions.web: '[{\"field\": \"http-request-method\", "
                   "\"httpRequestMethodConfig\": {\"values\": [\"GET\"]}}]'\n"),
       R"({"targetGroups":[{"id":"default/api:80","endpoints":["10.0.1.1:8080"]},
                           {"id":"default/web:80","endpoints":["10.0.0.1:8080","10.0.0.2:8080"]}],
           "hosts":[{"host":"h","routes":[
             {"match":"Prefix","path":"/c","targetGroup":"default/api:80","ingress":"default/new",
              "conditions":[{"field":"http-request-method","values":["POST"]}]},
             {"match":"Prefix","path":"/c","targetGroup":"default/web:80","ingress":"default/old",
              "conditions":[{"field":"http-request-method","values":["GET"]}]},
             {"match":"Prefix","path":"","targetGroup":"default/web:80","ingress":"default/new",
              "conditions":[{"field":"http-request-method","values":["GET"]}]}]}],
           "anyHost":{"host":"","routes":[]}})",
       {"warning: Ingress default/old: spec.rules[0].http.paths[0]: duplicate of a rule of "
        "Ingress default/new (host \"h\", Prefix \"/\", the same conditions), which takes "
        "precedence"}},
      {"ExternalName Services: the resolved addresses at the target port, an IP literal as is, "
       "and target-type service: the ClusterIP, not the pods",
       kWeb +
           R"(apiVersion: v1
kind: Service
metadata: {name: ext, namespace: default}
spec: {type: ExternalName, externalName: db.example.test, ports: [{name: http, port: 80, targetPort: 5432}]}
---
apiVersion: v1
kind: Service
metadata: {name: lit, namespace: default}
spec: {type: ExternalName, externalName: 192.0.2.9, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: later, namespace: default}
spec: {type: ExternalName, externalName: later.example.test, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: noports, namespace: default}
spec: {type: ExternalName, externalName: db.example.test}
---
apiVersion: v1
kind: Service
metadata: {name: mesh, namespace: default, annotations: {portico.dev/target-type: service}}
spec: {clusterIP: 10.96.0.7, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: headless, namespace: default, annotations: {portico.dev/target-type: service}}
spec: {clusterIP: None, ports: [{name: http, port: 80}]}
---
)" + ingress("a", R"(  rules:
  - host: a.test
    http:
      paths:
      - {path: /e, pathType: Prefix, backend: {service: {name: ext, port: {number: 80}}}}
      - {path: /l, pathType: Prefix, backend: {service: {name: lit, port: {name: http}}}}
      - {path: /n, pathType: Prefix, backend: {service: {name: later, port: {number: 80}}}}
      - {path: /m, pathType: Prefix, backend: {service: {name: mesh, port: {number: 80}}}}
      - {path: /h, pathType: Prefix, backend: {service: {name: headless, port: {number: 80}}}}
      - {path: /p, pathType: Prefix, backend: {service: {name: noports, port: {number: 443}}}}
)"),
       R"({"targetGroups":[
             {"id":"default/ext:80","endpoints":["192.0.2.1:5432","2001:db8::1:5432"]},
             {"id":"default/headless:80/service","endpoints":[]},
             {"id":"default/later:80","endpoints":[]},
             {"id":"default/lit:80","endpoints":["192.0.2.9:80"]},
             {"id":"default/mesh:80/service","endpoints":["10.96.0.7:80"]},
             {"id":"default/noports:443","endpoints":["192.0.2.1:443","2001:db8::1:443"]}],
           "hosts":[{"host":"a.test","routes":[
             {"match":"Prefix","path":"/e","targetGroup":"default/ext:80","ingress":"default/a"},
             {"match":"Prefix","path":"/l","targetGroup":"default/lit:80","ingress":"default/a"},
             {"match":"Prefix","path":"/n","targetGroup":"default/later:80","ingress":"default/a"},
             {"match":"Prefix","path":"/m","targetGroup":"default/mesh:80/service","ingress":"default/a"},
             {"match":"Prefix","path":"/h","targetGroup":"default/headless:80/service","ingress":"default/a"},
             {"match":"Prefix","path":"/p","targetGroup":"default/noports:443","ingress":"default/a"}]}],
           "anyHost":{"host":"","routes":[]}})",
       {"error: Ingress default/a: metadata.annotations[\"portico.dev/target-type\"]: Service "
        "default/headless has no ClusterIP (headless); target-type service cannot reach it"},
       [] {
         Options o;
         o.resolved = {{"db.example.test", {"192.0.2.1", "2001:db8::1"}}};
         return o;
       }()},
  };
}

std::vector<std::string> diagStrings(const CompileResult& r) {
  std::vector<std::string> out;
  for (const auto& d : r.diagnostics) {
    out.push_back(d.toString());
  }
  return out;
}

TEST(CompilerTable, WholeSnapshotAndDiagnostics) {
  for (const auto& c : cases()) {
    SCOPED_TRACE(c.name);
    const auto result = compile(stateFrom(objectsFromYaml(c.yaml)), c.options);
    EXPECT_EQ(snapshot::toJson(result.snapshot), nlohmann::json::parse(c.expected))
        << snapshot::toJson(result.snapshot).dump(2);
    EXPECT_EQ(diagStrings(result), c.diagnostics);
  }
}

// Perturbs what may differ between two clusters holding the same routing state: the order
// objects arrive in, the order of endpoints within a slice, how endpoints are split across
// slices, and slice names. Inserting into sorted maps alone could never fail this test.
std::vector<model::Object> perturb(std::vector<model::Object> objects, std::mt19937& rng) {
  std::vector<model::Object> out;
  for (auto& o : objects) {
    auto* slice = std::get_if<model::EndpointSlice>(&o);
    if (slice == nullptr) {
      out.push_back(std::move(o));
      continue;
    }
    std::shuffle(slice->endpoints.begin(), slice->endpoints.end(), rng);
    slice->meta.name += "-" + std::to_string(rng() % 1000);
    if (slice->endpoints.size() > 1 && rng() % 2 == 0) {
      model::EndpointSlice second = *slice;
      second.meta.name += "-b";
      const auto half = static_cast<std::ptrdiff_t>(slice->endpoints.size() / 2);
      second.endpoints.erase(second.endpoints.begin(), second.endpoints.begin() + half);
      slice->endpoints.erase(slice->endpoints.begin() + half, slice->endpoints.end());
      out.push_back(std::move(second));
    }
    out.push_back(std::move(o));
  }
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

TEST(CompilerTable, PerturbedInputGivesTheSameOutput) {
  std::mt19937 rng(12345);
  for (const auto& c : cases()) {
    SCOPED_TRACE(c.name);
    const auto objects = objectsFromYaml(c.yaml);
    const auto reference = compile(stateFrom(objects), c.options);
    for (int round = 0; round < 8; ++round) {
      const auto shuffled = compile(stateFrom(perturb(objects, rng)), c.options);
      EXPECT_EQ(snapshot::toJson(shuffled.snapshot), snapshot::toJson(reference.snapshot));
      EXPECT_EQ(shuffled.diagnostics, reference.diagnostics);
    }
  }
}

TEST(CompilerTable, PerturbationCanFail) {
  // The perturbation must reach what the compiler reads: the same state with endpoints in
  // another order, split across slices, is a different ClusterState.
  std::mt19937 rng(7);
  const auto objects = objectsFromYaml(serviceYaml("web", {"10.0.0.1", "10.0.0.2", "10.0.0.3"}));
  bool differed = false;
  for (int round = 0; round < 8 && !differed; ++round) {
    differed =
        !(stateFrom(perturb(objects, rng)).endpoint_slices == stateFrom(objects).endpoint_slices);
  }
  EXPECT_TRUE(differed);
}

// Changes what the slices say, not only how: endpoints dropped, added, made not ready, ports moved.
std::vector<model::Object> changeSlices(std::vector<model::Object> objects, std::mt19937& rng) {
  for (auto& o : objects) {
    auto* slice = std::get_if<model::EndpointSlice>(&o);
    if (slice == nullptr) {
      continue;
    }
    switch (rng() % 4) {
      case 0:
        if (!slice->endpoints.empty()) {
          slice->endpoints.erase(slice->endpoints.begin());
        }
        break;
      case 1:
        slice->endpoints.push_back({{"10.9.9." + std::to_string(rng() % 250)}, {}});
        break;
      case 2:
        if (!slice->endpoints.empty()) {
          slice->endpoints.back().conditions.ready = false;
        }
        break;
      default:
        for (auto& port : slice->ports) {
          port.port = static_cast<std::int32_t>(1000 + rng() % 60000);
        }
    }
  }
  return perturb(std::move(objects), rng);
}

TEST(CompilerTable, EndpointOnlyChangesGiveWhatACompileGives) {
  std::mt19937 rng(99);
  for (const auto& c : cases()) {
    SCOPED_TRACE(c.name);
    const auto objects = objectsFromYaml(c.yaml);
    const auto before_state = stateFrom(objects);
    const auto before = compile(before_state, c.options);
    for (int round = 0; round < 8; ++round) {
      const auto after_state = stateFrom(changeSlices(objects, rng));
      ASSERT_TRUE(onlyEndpointsDiffer(before_state, after_state));
      const auto full = compile(after_state, c.options);
      const auto fast =
          recompileEndpoints(before.snapshot, before.target_group_sources, after_state);
      EXPECT_EQ(snapshot::toJson(fast), snapshot::toJson(full.snapshot));
      EXPECT_TRUE(fast == full.snapshot);
      EXPECT_TRUE(fast.sharesRoutesWith(before.snapshot));
      EXPECT_EQ(full.diagnostics, before.diagnostics);
      EXPECT_EQ(full.target_group_sources, before.target_group_sources);
    }
  }
}

TEST(Compiler, OnlyEndpointsDifferSeesEveryOtherKind) {
  const auto base = stateFrom(objectsFromYaml(kWeb + portico::testing::kWebIngress));
  EXPECT_TRUE(onlyEndpointsDiffer(base, base));
  for (const auto& o : objectsFromYaml(kWeb + portico::testing::kWebIngress)) {
    auto changed = base;
    std::visit([](auto& obj) { obj.meta.annotations["changed"] = "yes"; },
               const_cast<model::Object&>(o));
    ASSERT_TRUE(changed.upsert(o));
    EXPECT_EQ(onlyEndpointsDiffer(base, changed), std::holds_alternative<model::EndpointSlice>(o))
        << o.index();
  }
}

TEST(Compiler, DeterministicAcrossRuns) {
  for (const auto& c : cases()) {
    const auto state = stateFrom(objectsFromYaml(c.yaml));
    const auto a = compile(state, c.options);
    const auto b = compile(state, c.options);
    EXPECT_EQ(snapshot::toJson(a.snapshot).dump(), snapshot::toJson(b.snapshot).dump()) << c.name;
    EXPECT_EQ(a.diagnostics, b.diagnostics) << c.name;
    EXPECT_EQ(a.ingresses, b.ingresses) << c.name;
  }
}

TEST(Compiler, ListsOurIngresses) {
  const auto state = stateFrom(
      objectsFromYaml(kWeb + ingress("a", "  rules: []\n") + ingress("b", "  rules: []\n")));
  EXPECT_EQ(compile(state, {}).ingresses, (std::vector<std::string>{"default/a", "default/b"}));
}

}  // namespace
}  // namespace portico::config
