#include "k8s/kubeconfig.h"

#include "model/decode.h"
#include "model/yaml_json.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace portico::k8s {

namespace {

using nlohmann::json;

struct FieldError {
  std::string field;
  std::string message;
};

[[noreturn]] void fail(std::string field, std::string message) {
  throw FieldError{std::move(field), std::move(message)};
}

std::string str(const json& obj, const char* key, const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    return {};
  }
  if (!it->is_string()) {
    fail(path + "." + key, "expected a string");
  }
  return it->get<std::string>();
}

bool boolean(const json& obj, const char* key, const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    return false;
  }
  if (!it->is_boolean()) {
    fail(path + "." + key, "expected true or false");
  }
  return it->get<bool>();
}

// The entry named `name` of a kubeconfig list ("clusters", "users", "contexts"), and its index.
std::pair<const json*, std::size_t> named(const json& doc, const char* list, const char* inner,
                                          const std::string& name) {
  auto it = doc.find(list);
  if (it == doc.end() || it->is_null()) {
    return {nullptr, 0};
  }
  if (!it->is_array()) {
    fail(list, "expected a list");
  }
  for (std::size_t i = 0; i < it->size(); ++i) {
    const json& entry = (*it)[i];
    const std::string path = std::string(list) + "[" + std::to_string(i) + "]";
    if (!entry.is_object()) {
      fail(path, "expected an object");
    }
    if (str(entry, "name", path) == name) {
      auto body = entry.find(inner);
      if (body == entry.end() || !body->is_object()) {
        fail(path + "." + inner, "required");
      }
      return {&*body, i};
    }
  }
  return {nullptr, 0};
}

// PEM from "<key>-data" (base64) or from the file "<key>", relative to `dir`.
std::string pem(const json& obj, const std::string& key, const std::string& path,
                const std::filesystem::path& dir) {
  const std::string data = str(obj, (key + "-data").c_str(), path);
  if (!data.empty()) {
    auto decoded = model::decodeBase64(data);
    if (!decoded) {
      fail(path + "." + key + "-data", "not valid base64");
    }
    return *decoded;
  }
  const std::string file = str(obj, key.c_str(), path);
  if (file.empty()) {
    return {};
  }
  const std::filesystem::path full =
      std::filesystem::path(file).is_absolute() ? std::filesystem::path(file) : dir / file;
  auto content = readFile(full.string());
  if (!content) {
    fail(path + "." + key, content.error());
  }
  return *content;
}

}  // namespace

Result<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error{"cannot read " + path + ": " + std::strerror(errno)};
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<ApiConfig> loadKubeconfig(const std::string& path, const std::string& context) {
  const std::string who = "kubeconfig " + path;
  auto text = readFile(path);
  if (!text) {
    return Error{who + ": " + text.error()};
  }
  auto docs = model::parseManifestText(*text, model::TextFormat::kYaml);
  if (!docs) {
    return Error{who + ": " + docs.error()};
  }
  if (docs->size() != 1 || !docs->front().is_object()) {
    return Error{who + ": expected one YAML document holding a Config"};
  }
  const json& doc = docs->front();
  const auto dir = std::filesystem::path(path).parent_path();
  try {
    std::string ctx_name = context.empty() ? str(doc, "current-context", "") : context;
    if (ctx_name.empty()) {
      fail("current-context", "not set, and no --context given");
    }
    auto [ctx, ctx_index] = named(doc, "contexts", "context", ctx_name);
    if (ctx == nullptr) {
      fail("contexts", "no context named \"" + ctx_name + "\"");
    }
    const std::string ctx_path = "contexts[" + std::to_string(ctx_index) + "].context";
    const std::string cluster_name = str(*ctx, "cluster", ctx_path);
    const std::string user_name = str(*ctx, "user", ctx_path);
    auto [cluster, cluster_index] = named(doc, "clusters", "cluster", cluster_name);
    if (cluster == nullptr) {
      fail(ctx_path + ".cluster", "no cluster named \"" + cluster_name + "\"");
    }
    const std::string cpath = "clusters[" + std::to_string(cluster_index) + "].cluster";
    ApiConfig cfg;
    cfg.source = who + " (context " + ctx_name + ")";
    cfg.namespace_ = str(*ctx, "namespace", ctx_path);
    cfg.server = str(*cluster, "server", cpath);
    if (cfg.server.empty()) {
      fail(cpath + ".server", "required");
    }
    if (cfg.server.rfind("https://", 0) != 0 && cfg.server.rfind("http://", 0) != 0) {
      fail(cpath + ".server", "\"" + cfg.server + "\" is not an http(s) URL");
    }
    while (cfg.server.back() == '/') {
      cfg.server.pop_back();
    }
    cfg.insecure_skip_tls_verify = boolean(*cluster, "insecure-skip-tls-verify", cpath);
    cfg.ca_pem = pem(*cluster, "certificate-authority", cpath, dir);
    if (!user_name.empty()) {
      auto [user, user_index] = named(doc, "users", "user", user_name);
      if (user == nullptr) {
        fail(ctx_path + ".user", "no user named \"" + user_name + "\"");
      }
      const std::string upath = "users[" + std::to_string(user_index) + "].user";
      for (const char* unsupported : {"exec", "auth-provider", "username", "password"}) {
        if (user->contains(unsupported) && !(*user)[unsupported].is_null()) {
          fail(upath + "." + unsupported,
               "not supported; use a token, a token file or a client certificate");
        }
      }
      cfg.token = str(*user, "token", upath);
      const std::string token_file = str(*user, "tokenFile", upath);
      if (!token_file.empty()) {
        cfg.token_file = std::filesystem::path(token_file).is_absolute()
                             ? token_file
                             : (dir / token_file).string();
      }
      cfg.client_cert_pem = pem(*user, "client-certificate", upath, dir);
      cfg.client_key_pem = pem(*user, "client-key", upath, dir);
      if (cfg.client_cert_pem.empty() != cfg.client_key_pem.empty()) {
        fail(upath, "a client certificate needs its key, and a key its certificate");
      }
    }
    return cfg;
  } catch (const FieldError& e) {
    return Error{who + ": " + e.field + ": " + e.message};
  }
}

std::optional<Result<ApiConfig>> inClusterConfig(
    const std::function<const char*(const char*)>& getenv, const std::string& secrets_dir) {
  const char* host = getenv("KUBERNETES_SERVICE_HOST");
  const char* port = getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || port == nullptr || *host == '\0' || *port == '\0') {
    return std::nullopt;
  }
  ApiConfig cfg;
  cfg.source = "in-cluster";
  const std::string h = host;
  cfg.server = "https://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + port;
  cfg.token_file = secrets_dir + "/token";
  if (auto token = readFile(cfg.token_file); !token) {
    return Result<ApiConfig>(Error{"in-cluster: " + token.error()});
  }
  auto ca = readFile(secrets_dir + "/ca.crt");
  if (!ca) {
    return Result<ApiConfig>(Error{"in-cluster: " + ca.error()});
  }
  cfg.ca_pem = *ca;
  if (auto ns = readFile(secrets_dir + "/namespace")) {
    cfg.namespace_ = *ns;
    while (!cfg.namespace_.empty() &&
           std::isspace(static_cast<unsigned char>(cfg.namespace_.back()))) {
      cfg.namespace_.pop_back();
    }
  }
  return Result<ApiConfig>(std::move(cfg));
}

}  // namespace portico::k8s
