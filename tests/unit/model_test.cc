#include "model/cluster_state.h"
#include "model/decode.h"
#include "model/yaml_json.h"

#include <gtest/gtest.h>

namespace portico::model {
namespace {

Result<std::optional<Object>> decodeYaml(const std::string& yaml) {
  auto docs = parseManifestText(yaml, TextFormat::kYaml);
  EXPECT_TRUE(docs.ok());
  EXPECT_EQ(docs->size(), 1u);
  return decodeObject(docs->front());
}

TEST(YamlJson, ScalarsFollowTheCoreSchema) {
  auto docs = parseManifestText(
      "a: 1\nb: \"1\"\nc: true\nd: 'true'\ne: ~\nf: 1.5\ng: hello\nh: 0x10\ni: -3\n",
      TextFormat::kYaml);
  ASSERT_TRUE(docs.ok());
  const auto& j = docs->front();
  EXPECT_EQ(j["a"], 1);
  EXPECT_EQ(j["b"], "1");
  EXPECT_EQ(j["c"], true);
  EXPECT_EQ(j["d"], "true");
  EXPECT_TRUE(j["e"].is_null());
  EXPECT_EQ(j["f"], 1.5);
  EXPECT_EQ(j["g"], "hello");
  EXPECT_EQ(j["h"], 16);
  EXPECT_EQ(j["i"], -3);
}

TEST(YamlJson, MultiDocumentAndListsAreFlattened) {
  auto docs = parseManifestText(
      "kind: A\n---\n---\nkind: List\nitems:\n- kind: B\n- kind: List\n  items: [{kind: C}]\n",
      TextFormat::kYaml);
  ASSERT_TRUE(docs.ok());
  ASSERT_EQ(docs->size(), 3u);
  EXPECT_EQ((*docs)[0]["kind"], "A");
  EXPECT_EQ((*docs)[1]["kind"], "B");
  EXPECT_EQ((*docs)[2]["kind"], "C");
}

TEST(YamlJson, SyntaxErrorsNameLineAndColumn) {
  auto bad = parseManifestText("a: [1, 2\nb: c\n", TextFormat::kYaml);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("invalid YAML: line"), std::string::npos) << bad.error();
  auto bad_json = parseManifestText("{\"a\": ", TextFormat::kJson);
  ASSERT_FALSE(bad_json.ok());
  EXPECT_NE(bad_json.error().find("invalid JSON"), std::string::npos);
}

TEST(Decode, IngressAsKubectlPrintsIt) {
  auto obj = decodeYaml(R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
  creationTimestamp: "2024-05-01T10:00:00Z"
  annotations: {kubernetes.io/ingress.class: portico}
  resourceVersion: "42"
spec:
  ingressClassName: portico
  defaultBackend: {service: {name: fallback, port: {number: 80}}}
  tls: [{hosts: [a.example.com], secretName: a-tls}]
  rules:
  - host: a.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: web, port: {name: http}}}
status: {loadBalancer: {}}
)");
  ASSERT_TRUE(obj.ok()) << obj.error();
  ASSERT_TRUE(obj->has_value());
  const auto& ing = std::get<Ingress>(**obj);
  EXPECT_EQ(ing.meta.key(), "shop/web");
  EXPECT_EQ(ing.meta.creation_timestamp, 1714557600);
  EXPECT_EQ(ing.meta.resource_version, "42");
  EXPECT_EQ(ing.ingress_class_name, "portico");
  ASSERT_TRUE(ing.default_backend.has_value());
  EXPECT_EQ(ing.default_backend->service->port.number, 80);
  ASSERT_EQ(ing.rules.size(), 1u);
  EXPECT_EQ(ing.rules[0].paths[0].backend.service->port.name, "http");
  EXPECT_EQ(ing.tls[0].secret_name, "a-tls");
}

TEST(Decode, ServiceSliceSecretConfigMapAndClass) {
  auto svc = decodeYaml(
      "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports:\n"
      "  - {name: http, port: 80, targetPort: web}\n  - {port: 81, targetPort: 8081}\n");
  ASSERT_TRUE(svc.ok()) << svc.error();
  const auto& s = std::get<Service>(**svc);
  EXPECT_EQ(s.meta.namespace_, "default");
  EXPECT_EQ(s.ports[0].target_port.name, "web");
  EXPECT_EQ(s.ports[1].target_port.number, 8081);

  auto slice = decodeYaml(
      "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e}\n"
      "addressType: IPv4\nports: [{port: 80}]\nendpoints:\n- addresses: [10.0.0.1]\n"
      "  conditions: {ready: false}\n");
  ASSERT_TRUE(slice.ok()) << slice.error();
  const auto& es = std::get<EndpointSlice>(**slice);
  EXPECT_FALSE(es.ports[0].name.has_value());
  EXPECT_EQ(es.endpoints[0].conditions.ready, false);

  auto secret = decodeYaml(
      "apiVersion: v1\nkind: Secret\nmetadata: {name: t}\ntype: kubernetes.io/tls\n"
      "data: {tls.crt: aGVsbG8=}\nstringData: {note: plain}\n");
  ASSERT_TRUE(secret.ok()) << secret.error();
  EXPECT_EQ(std::get<Secret>(**secret).data.at("tls.crt"), "hello");
  EXPECT_EQ(std::get<Secret>(**secret).data.at("note"), "plain");

  auto cm = decodeYaml("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: v}\n");
  ASSERT_TRUE(cm.ok());
  EXPECT_EQ(std::get<ConfigMap>(**cm).data.at("k"), "v");

  auto cls = decodeYaml(
      "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: p, namespace: x}\n"
      "spec: {controller: portico.dev/ingress-controller}\n");
  ASSERT_TRUE(cls.ok());
  EXPECT_EQ(std::get<IngressClass>(**cls).meta.key(), "p");  // cluster-scoped
}

TEST(Decode, OtherKindsAreSkipped) {
  auto obj = decodeYaml("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n");
  ASSERT_TRUE(obj.ok());
  EXPECT_FALSE(obj->has_value());
}

TEST(Decode, WrongShapesNameObjectAndField) {
  struct Bad {
    std::string yaml;
    std::string error;
  };
  const std::vector<Bad> bad = {
      {"kind: Ingress\napiVersion: networking.k8s.io/v1\nmetadata: {namespace: x}\n",
       "Ingress: metadata.name: required"},
      {"apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i}\n"
       "spec: {rules: [{host: 5}]}\n",
       "Ingress default/i: spec.rules[0].host: expected a string, got number"},
      {"apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i}\n"
       "spec: {rules: [{http: {paths: [{path: /}]}}]}\n",
       "Ingress default/i: spec.rules[0].http.paths[0].backend: required"},
      {"apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i}\n"
       "spec: {rules: {host: a}}\n",
       "Ingress default/i: spec.rules: expected an array, got object"},
      {"apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i}\n"
       "spec: {defaultBackend: {service: {name: s, port: {number: 99999999999}}}}\n",
       "Ingress default/i: spec.defaultBackend.service.port.number: integer out of range"},
      {"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{name: a}]}\n",
       "Service default/s: spec.ports[0].port: required"},
      {"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {tls.crt: \"!!notbase64\"}\n",
       "Secret default/s: data.tls.crt: not valid base64"},
      {"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: {a: 1}}\n",
       "ConfigMap default/c: metadata.labels.a: expected a string, got number"},
      {"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, creationTimestamp: yesterday}\n",
       "ConfigMap default/c: metadata.creationTimestamp: not an RFC 3339 time: \"yesterday\""},
      {"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e}\n"
       "endpoints: [{addresses: [1], conditions: {ready: yes}}]\n",
       "EndpointSlice default/e: endpoints[0].addresses[0]: expected a string, got number"},
      {"apiVersion: networking.k8s.io/v2\nkind: Ingress\nmetadata: {name: i}\n",
       "Ingress: unsupported apiVersion \"networking.k8s.io/v2\""},
      {"- a\n- b\n", "a manifest document must be an object, got array"},
      {"metadata: {name: x}\n", "object without a string \"kind\""},
  };
  for (const auto& b : bad) {
    auto docs = parseManifestText(b.yaml, TextFormat::kYaml);
    ASSERT_TRUE(docs.ok()) << b.yaml;
    auto obj = decodeObject(docs->front());
    ASSERT_FALSE(obj.ok()) << b.yaml;
    EXPECT_EQ(obj.error(), b.error);
  }
}

TEST(Decode, Rfc3339AndBase64) {
  EXPECT_EQ(parseRfc3339("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parseRfc3339("2024-05-01T12:00:00.123+02:00"), 1714557600);
  EXPECT_FALSE(parseRfc3339("2024-05-01 12:00:00").has_value());
  EXPECT_FALSE(parseRfc3339("2024-13-01T00:00:00Z").has_value());
  EXPECT_EQ(decodeBase64("aGVsbG8gd29ybGQ="), "hello world");
  EXPECT_EQ(decodeBase64(""), "");
  EXPECT_FALSE(decodeBase64("a=b").has_value());
  EXPECT_FALSE(decodeBase64("a").has_value());
}

TEST(ClusterStateTest, UpsertReportsRealChangesOnly) {
  ClusterState state;
  Service s;
  s.meta.name = "a";
  s.meta.namespace_ = "n";
  EXPECT_TRUE(state.upsert(s));
  EXPECT_FALSE(state.upsert(s));
  s.cluster_ip = "10.0.0.1";
  EXPECT_TRUE(state.upsert(s));
  EXPECT_EQ(state.size(), 1u);
  EXPECT_TRUE(state.erase(s));
  EXPECT_FALSE(state.erase(s));
}

}  // namespace
}  // namespace portico::model
