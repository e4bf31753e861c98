#pragma once
// How to reach the Kubernetes API server: from a kubeconfig file (`--kubeconfig`, `--context`,
// `$KUBECONFIG`) or from the pod's service account (in-cluster). Pure parsing plus file reads;
// any thread. Errors name the file and the field:
//   "kubeconfig /root/.kube/config: users[0].user.client-key-data: not valid base64"

#include "common/result.h"

#include <functional>
#include <optional>
#include <string>

namespace portico::k8s {

struct ApiConfig {
  std::string server;  // "https://host:port" (no trailing slash)
  std::string ca_pem;  // trusted CA certificates; empty: the system roots
  bool insecure_skip_tls_verify = false;
  std::string token;       // a static bearer token
  std::string token_file;  // re-read when it rotates (service accounts); wins over `token`
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string namespace_;  // the context's namespace, or the pod's; may be empty
  std::string source;      // "kubeconfig PATH (context NAME)" or "in-cluster", for logs
};

// Reads a kubeconfig. `context` empty: its current-context. Relative file paths in it are
// relative to the kubeconfig's directory.
Result<ApiConfig> loadKubeconfig(const std::string& path, const std::string& context);

// The in-cluster configuration: KUBERNETES_SERVICE_HOST/PORT from `getenv`, the token, CA and
// namespace under `secrets_dir` (/var/run/secrets/kubernetes.io/serviceaccount in a pod).
// nullopt when the pod environment is absent.
std::optional<Result<ApiConfig>> inClusterConfig(
    const std::function<const char*(const char*)>& getenv, const std::string& secrets_dir);

inline constexpr char kServiceAccountDir[] = "/var/run/secrets/kubernetes.io/serviceaccount";

// Reads a whole file; an error names the path.
Result<std::string> readFile(const std::string& path);

}  // namespace portico::k8s
