#include "k8s/kubeconfig.h"
#include "temp_dir.h"

#include <gtest/gtest.h>

#include <map>

namespace portico::k8s {
namespace {

using portico::testing::TempDir;

const char kConfig[] = R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev-cluster
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority-data: Q0EtUEVN
- name: files
  cluster:
    server: https://files.example:443
    certificate-authority: ca.crt
    insecure-skip-tls-verify: true
contexts:
- name: dev
  context: {cluster: dev-cluster, user: alice, namespace: shop}
- name: other
  context: {cluster: files, user: bob}
- name: broken
  context: {cluster: nowhere, user: alice}
users:
- name: alice
  user: {token: secret-token}
- name: bob
  user:
    tokenFile: token
    client-certificate: client.crt
    client-key: /ABS/client.key
)";

TEST(Kubeconfig, CurrentContextWithInlineData) {
  TempDir dir;
  dir.write("config", kConfig);
  auto cfg = loadKubeconfig(dir.path() + "/config", "");
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  EXPECT_EQ(cfg->server, "https://127.0.0.1:6443");
  EXPECT_EQ(cfg->ca_pem, "CA-PEM");
  EXPECT_EQ(cfg->token, "secret-token");
  EXPECT_EQ(cfg->namespace_, "shop");
  EXPECT_FALSE(cfg->insecure_skip_tls_verify);
  EXPECT_EQ(cfg->source, "kubeconfig " + dir.path() + "/config (context dev)");
}

TEST(Kubeconfig, ExplicitContextWithRelativeAndAbsoluteFiles) {
  TempDir dir;
  std::string config = kConfig;
  config.replace(config.find("/ABS"), 4, dir.path());
  dir.write("config", config);
  dir.write("ca.crt", "FILE-CA");
  dir.write("client.crt", "CERT");
  dir.write("client.key", "KEY");
  auto cfg = loadKubeconfig(dir.path() + "/config", "other");
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  EXPECT_EQ(cfg->server, "https://files.example:443");
  EXPECT_EQ(cfg->ca_pem, "FILE-CA");
  EXPECT_TRUE(cfg->insecure_skip_tls_verify);
  EXPECT_EQ(cfg->token_file, dir.path() + "/token");
  EXPECT_EQ(cfg->client_cert_pem, "CERT");
  EXPECT_EQ(cfg->client_key_pem, "KEY");
}

TEST(Kubeconfig, ErrorsNameTheField) {
  TempDir dir;
  dir.write("config", kConfig);
  const std::string path = dir.path() + "/config";
  struct Bad {
    std::string content;  // empty: kConfig
    std::string context;
    std::string error;
  };
  const std::vector<Bad> bad = {
      {"", "nope", "contexts: no context named \"nope\""},
      {"", "broken", "contexts[2].context.cluster: no cluster named \"nowhere\""},
      {"", "other",
       "clusters[1].cluster.certificate-authority: cannot read " + dir.path() +
           "/ca.crt: No such file or directory"},
      {"clusters: [{name: c, cluster: {server: https://x, certificate-authority-data: '!!'}}]\n"
       "contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n",
       "", "clusters[0].cluster.certificate-authority-data: not valid base64"},
      {"clusters: [{name: c, cluster: {server: ftp://x}}]\n"
       "contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n",
       "", "clusters[0].cluster.server: \"ftp://x\" is not an http(s) URL"},
      {"clusters: [{name: c, cluster: {}}]\ncontexts: [{name: x, context: {cluster: c}}]\n"
       "current-context: x\n",
       "", "clusters[0].cluster.server: required"},
      {"clusters: [{name: c, cluster: {server: https://x}}]\n"
       "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
       "users: [{name: u, user: {exec: {command: aws}}}]\n",
       "", "users[0].user.exec: not supported; use a token, a token file or a client certificate"},
      {"clusters: [{name: c, cluster: {server: https://x}}]\n"
       "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
       "users: [{name: u, user: {client-certificate-data: Q0VSVA==}}]\n",
       "", "users[0].user: a client certificate needs its key, and a key its certificate"},
      {"kind: Config\n", "", "current-context: not set, and no --context given"},
      {"clusters: {a: b}\ncurrent-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n", "",
       "clusters: expected a list"},
      {"key: [unclosed\n", "", "invalid YAML: line 2, column 1: end of sequence flow not found"},
  };
  for (const auto& b : bad) {
    if (!b.content.empty()) {
      dir.write("config", b.content);
    }
    auto cfg = loadKubeconfig(path, b.context);
    ASSERT_FALSE(cfg.ok()) << b.error;
    EXPECT_EQ(cfg.error(), "kubeconfig " + path + ": " + b.error);
  }
  auto missing = loadKubeconfig(dir.path() + "/absent", "");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error(), "kubeconfig " + dir.path() + "/absent: cannot read " + dir.path() +
                                 "/absent: No such file or directory");
}

TEST(InCluster, ReadsTheServiceAccount) {
  TempDir dir;
  dir.write("token", "sa-token");
  dir.write("ca.crt", "SA-CA");
  dir.write("namespace", "ingress\n");
  std::map<std::string, std::string> env = {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                                            {"KUBERNETES_SERVICE_PORT", "443"}};
  auto getenv = [&](const char* k) -> const char* {
    auto it = env.find(k);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  auto cfg = inClusterConfig(getenv, dir.path());
  ASSERT_TRUE(cfg.has_value());
  ASSERT_TRUE(cfg->ok()) << cfg->error();
  EXPECT_EQ((*cfg)->server, "https://10.96.0.1:443");
  EXPECT_EQ((*cfg)->ca_pem, "SA-CA");
  EXPECT_EQ((*cfg)->token_file, dir.path() + "/token");
  EXPECT_EQ((*cfg)->namespace_, "ingress");

  env["KUBERNETES_SERVICE_HOST"] = "fd00::1";
  EXPECT_EQ((*inClusterConfig(getenv, dir.path()))->server, "https://[fd00::1]:443");

  dir.remove("token");
  auto no_token = inClusterConfig(getenv, dir.path());
  ASSERT_TRUE(no_token.has_value());
  ASSERT_FALSE(no_token->ok());
  EXPECT_EQ(no_token->error(),
            "in-cluster: cannot read " + dir.path() + "/token: No such file or directory");

  env.clear();
  EXPECT_FALSE(inClusterConfig(getenv, dir.path()).has_value());
}

}  // namespace
}  // namespace portico::k8s
