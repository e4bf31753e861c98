#include "app/flags.h"

#include "common/strings.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <thread>

namespace portico::app {

namespace {

struct FlagSpec {
  const char* name;
  const char* value_name;  // nullptr for booleans
  const char* default_text;
  const char* help;
  std::function<std::optional<std::string>(Flags&, const std::string&)> set;
};

std::optional<std::string> setPort(std::uint16_t* out, const std::string& v) {
  auto n = parseUint(v);
  if (!n || *n > 65535) {
    return "expected a port number from 0 to 65535";
  }
  *out = static_cast<std::uint16_t>(*n);
  return std::nullopt;
}

// A whole number from lo to hi, into an int or size field.
template <class T>
std::optional<std::string> setNumber(T* out, const std::string& v, std::uint64_t lo,
                                     std::uint64_t hi) {
  auto n = parseUint(v);
  if (!n || *n < lo || *n > hi) {
    return "expected a number from " + std::to_string(lo) + " to " + std::to_string(hi);
  }
  *out = static_cast<T>(*n);
  return std::nullopt;
}

std::optional<std::string> setDuration(std::chrono::milliseconds* out, const std::string& v) {
  auto d = parseDuration(v);
  if (!d) {
    return "expected a duration such as 500ms, 30s, 5m";
  }
  *out = *d;
  return std::nullopt;
}

std::optional<std::string> setBool(bool* out, const std::string& v) {
  if (v == "true" || v == "1") {
    *out = true;
  } else if (v == "false" || v == "0") {
    *out = false;
  } else {
    return "expected true or false";
  }
  return std::nullopt;
}

std::optional<std::string> setString(std::string* out, const std::string& v) {
  *out = v;
  return std::nullopt;
}

const std::vector<FlagSpec>& specs() {
  static const std::vector<FlagSpec> kSpecs = {
      {"help", nullptr, "", "print this help and exit",
       [](Flags& f, const std::string& v) { return setBool(&f.help, v); }},
      {"manifests", "DIR", "",
       "read objects from a directory of YAML/JSON manifests instead of the API server",
       [](Flags& f, const std::string& v) { return setString(&f.manifests, v); }},
      {"kubeconfig", "PATH", "$KUBECONFIG, else in-cluster", "API server access",
       [](Flags& f, const std::string& v) { return setString(&f.kubeconfig, v); }},
      {"context", "NAME", "the kubeconfig's current-context", "kubeconfig context to use",
       [](Flags& f, const std::string& v) { return setString(&f.context, v); }},
      {"http-port", "PORT", "8080", "HTTP listener port (0 picks a free one)",
       [](Flags& f, const std::string& v) { return setPort(&f.proxy.http_port, v); }},
      {"https-port", "PORT|off", "8443", "HTTPS listener port (0 picks a free one; off: none)",
       [](Flags& f, const std::string& v) -> std::optional<std::string> {
         if (v == "off") {
           f.proxy.https_port = -1;
           return std::nullopt;
         }
         std::uint16_t port = 0;
         if (auto err = setPort(&port, v)) {
           return err;
         }
         f.proxy.https_port = port;
         return std::nullopt;
       }},
      {"https-redirect-port", "PORT", "443",
       "the port in HTTP->HTTPS redirects (the one clients reach the HTTPS listener on)",
       [](Flags& f, const std::string& v) { return setPort(&f.compiler.tls.redirect_port, v); }},
      {"hsts", nullptr, "true", "Strict-Transport-Security on HTTPS responses of TLS hosts",
       [](Flags& f, const std::string& v) { return setBool(&f.compiler.tls.hsts, v); }},
      {"hsts-max-age", "SECONDS", "31536000", "HSTS max-age",
       [](Flags& f, const std::string& v) {
         return setNumber(&f.compiler.tls.hsts_max_age, v, 0, 20ULL * 365 * 86400);
       }},
      {"hsts-include-subdomains", nullptr, "true", "HSTS includeSubDomains",
       [](Flags& f, const std::string& v) {
         return setBool(&f.compiler.tls.hsts_include_subdomains, v);
       }},
      {"hsts-preload", nullptr, "false", "HSTS preload",
       [](Flags& f, const std::string& v) { return setBool(&f.compiler.tls.hsts_preload, v); }},
      {"default-ssl-certificate", "NS/NAME", "a self-signed one made at start",
       "kubernetes.io/tls Secret served to clients without SNI or with a name no Ingress serves",
       [](Flags& f, const std::string& v) -> std::optional<std::string> {
         if (v.find('/') == std::string::npos || v.front() == '/' || v.back() == '/') {
           return "expected NAMESPACE/NAME";
         }
         f.default_ssl_certificate = v;
         return std::nullopt;
       }},
      {"tls-min-version", "1.2|1.3", "1.2", "lowest TLS version the HTTPS listener accepts",
       [](Flags& f, const std::string& v) -> std::optional<std::string> {
         if (v != "1.2" && v != "1.3") {
           return "expected 1.2 or 1.3";
         }
         f.proxy.tls.min_version = v;
         return std::nullopt;
       }},
      {"tls-session-tickets", nullptr, "true",
       "resume TLS sessions with tickets (keys in memory, rotated every 12 hours); false: every "
       "handshake is a full one",
       [](Flags& f, const std::string& v) { return setBool(&f.proxy.tls.session_tickets, v); }},
      {"tls-ciphers", "LIST", "ECDHE AEAD suites (Mozilla intermediate)",
       "TLS 1.2 cipher list, OpenSSL syntax (TLS 1.3 suites are OpenSSL's defaults)",
       [](Flags& f, const std::string& v) -> std::optional<std::string> {
         tls::ServerTlsSettings settings = f.proxy.tls;
         settings.ciphers = v;
         if (std::string why = tls::checkSettings(settings); !why.empty()) {
           return why;
         }
         f.proxy.tls.ciphers = v;
         return std::nullopt;
       }},
      {"admin-port", "PORT", "9090", "admin listener: /metrics, /healthz, /readyz",
       [](Flags& f, const std::string& v) { return setPort(&f.admin_port, v); }},
      {"bind", "ADDR", "0.0.0.0", "address of all listeners",
       [](Flags& f, const std::string& v) { return setString(&f.proxy.bind, v); }},
      {"workers", "N", "number of cores", "proxy worker threads",
       [](Flags& f, const std::string& v) { return setNumber(&f.proxy.workers, v, 1, 1024); }},
      {"ingress-class", "NAME", "portico", "the IngressClass name that is ours",
       [](Flags& f, const std::string& v) { return setString(&f.compiler.ingress_class, v); }},
      {"controller-name", "NAME", "portico.dev/ingress-controller",
       "IngressClass spec.controller that is ours",
       [](Flags& f, const std::string& v) { return setString(&f.compiler.controller_name, v); }},
      {"watch-ingress-without-class", nullptr, "false", "also take Ingresses without any class",
       [](Flags& f, const std::string& v) {
         return setBool(&f.compiler.watch_ingress_without_class, v);
       }},
      {"watch-namespace", "NS", "all", "only read namespaced objects of this namespace",
       [](Flags& f, const std::string& v) { return setString(&f.watch_namespace, v); }},
      {"default-backend-service", "NS/NAME", "none",
       "the controller's default backend (its first port), for requests no rule matches",
       [](Flags& f, const std::string& v) -> std::optional<std::string> {
         if (!v.empty() &&
             (v.find('/') == std::string::npos || v.front() == '/' || v.back() == '/')) {
           return "expected NAMESPACE/NAME";
         }
         f.compiler.default_backend_service = v;
         return std::nullopt;
       }},
      {"publish-service", "NS/NAME", "none", "Service whose addresses go into Ingress status",
       [](Flags& f, const std::string& v) { return setString(&f.publish_service, v); }},
      {"publish-status-address", "A[,B]", "none", "addresses to put into Ingress status",
       [](Flags& f, const std::string& v) { return setString(&f.publish_status_address, v); }},
      {"election-id", "NAME", "portico-leader", "leader-election Lease name",
       [](Flags& f, const std::string& v) { return setString(&f.election_id, v); }},
      {"election-namespace", "NS", "the pod's", "leader-election Lease namespace",
       [](Flags& f, const std::string& v) { return setString(&f.election_namespace, v); }},
      {"leader-elect", nullptr, "true", "elect a leader to write status and Events",
       [](Flags& f, const std::string& v) { return setBool(&f.leader_elect, v); }},
      {"max-header-bytes", "SIZE", "64Ki", "request headers in total; over it: 431",
       [](Flags& f, const std::string& v) -> std::optional<std::string> {
         auto n = parseSize(v);
         if (!n || *n < 1024 || *n > (64ULL << 20)) {
           return "expected a size from 1Ki to 64Mi, such as 64Ki";
         }
         f.proxy.max_header_bytes = static_cast<std::size_t>(*n);
         return std::nullopt;
       }},
      {"max-body-size", "SIZE", "0 (unlimited)", "request body limit; over it: 413",
       [](Flags& f, const std::string& v) -> std::optional<std::string> {
         auto n = parseSize(v);
         if (!n) {
           return "expected a size such as 0, 10Mi, 1g";
         }
         f.proxy.max_body_size = *n;
         return std::nullopt;
       }},
      {"shutdown-grace", "DURATION", "30s", "on SIGTERM, time for in-flight requests to finish",
       [](Flags& f, const std::string& v) { return setDuration(&f.shutdown_grace, v); }},
      {"client-header-timeout", "DURATION", "60s", "to receive a whole request header; then 408",
       [](Flags& f, const std::string& v) {
         return setDuration(&f.proxy.client_header_timeout, v);
       }},
      {"client-body-timeout", "DURATION", "60s", "between two reads of a request body; then 408",
       [](Flags& f, const std::string& v) { return setDuration(&f.proxy.client_body_timeout, v); }},
      {"keepalive-timeout", "DURATION", "75s", "idle client connection between requests",
       [](Flags& f, const std::string& v) { return setDuration(&f.proxy.keepalive_timeout, v); }},
      {"upstream-connect-timeout", "DURATION", "5s",
       "to connect to an endpoint; then the next one, or 504",
       [](Flags& f,
          const std::string& v) { return setDuration(&f.proxy.upstream_connect_timeout, v); }},
      {"upstream-response-timeout", "DURATION", "60s",
       "between two reads or writes upstream; then 504",
       [](Flags& f,
          const std::string& v) { return setDuration(&f.proxy.upstream_response_timeout, v); }},
      {"upstream-keepalive-timeout", "DURATION", "60s", "idle pooled upstream connection lifetime",
       [](Flags& f, const std::string& v) {
         return setDuration(&f.proxy.upstream_idle_timeout, v);
       }},
      {"upstream-keepalive-connections", "N", "320",
       "idle pooled connections kept per endpoint and worker (ingress-nginx's default)",
       [](Flags& f, const std::string& v) {
         return setNumber(&f.proxy.max_idle_per_endpoint, v, 0, 100'000);
       }},
      {"tunnel-idle-timeout", "DURATION", "1h", "websocket/Upgrade tunnel without traffic",
       [](Flags& f, const std::string& v) { return setDuration(&f.proxy.tunnel_idle_timeout, v); }},
      {"upstream-max-attempts", "N", "3", "tries of one request across endpoints, when safe",
       [](Flags& f, const std::string& v) { return setNumber(&f.proxy.max_attempts, v, 1, 10); }},
      {"log-level", "LEVEL", "info", "debug, info, warn or error",
       [](Flags& f, const std::string& v) -> std::optional<std::string> {
         if (!log::parseLevel(v, &f.log_level)) {
           return "expected debug, info, warn or error";
         }
         return std::nullopt;
       }},
      {"log-format", "FORMAT", "json", "json or text",
       [](Flags& f, const std::string& v) -> std::optional<std::string> {
         if (!log::parseFormat(v, &f.log_format)) {
           return "expected json or text";
         }
         return std::nullopt;
       }},
      {"access-log-format", "FORMAT", "json",
       "one line per request on stdout: json, nginx (ingress-nginx's default format) or off",
       [](Flags& f, const std::string& v) -> std::optional<std::string> {
         if (v == "json") {
           f.proxy.access_log = proxy::AccessLogFormat::kJson;
         } else if (v == "nginx") {
           f.proxy.access_log = proxy::AccessLogFormat::kNginx;
         } else if (v == "off") {
           f.proxy.access_log = proxy::AccessLogFormat::kOff;
         } else {
           return "expected json, nginx or off";
         }
         return std::nullopt;
       }},
      {"access-log-buffer", "SIZE", "256Ki",
       "access log bytes buffered per worker; when the writer is behind by more, lines are "
       "dropped (and counted), never waited for",
       [](Flags& f, const std::string& v) -> std::optional<std::string> {
         auto n = parseSize(v);
         if (!n || *n < 4096 || *n > (1ULL << 30)) {
           return "expected a size from 4Ki to 1Gi, such as 256Ki";
         }
         f.proxy.access_log_buffer = static_cast<std::size_t>(*n);
         return std::nullopt;
       }},
      {"config-dir", "DIR", "none",
       "a directory of flag values, one file per flag named as the flag (a mounted ConfigMap); "
       "flags on the command line win",
       [](Flags&, const std::string&) -> std::optional<std::string> { return std::nullopt; }},
      {"enable-metrics", nullptr, "true",
       "per-route request series and histograms (portico_requests_total and the *_seconds and "
       "*_bytes histograms); false keeps the other metrics",
       [](Flags& f, const std::string& v) { return setBool(&f.proxy.request_metrics, v); }},
  };
  return kSpecs;
}

}  // namespace

namespace {
// The flags of --config-dir DIR as "--NAME=VALUE", in name order: each regular file whose name
// does not start with '.' (a ConfigMap volume's ..data links) is one flag, its content the
// value without the trailing newline.
Result<std::vector<std::string>> configDirFlags(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return Error{"--config-dir=" + dir + ": not a directory"};
  }
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.empty() && name[0] != '.' && entry.is_regular_file(ec)) {
      names.push_back(name);
    }
  }
  if (ec) {
    return Error{"--config-dir=" + dir + ": " + ec.message()};
  }
  std::sort(names.begin(), names.end());
  std::vector<std::string> out;
  for (const std::string& name : names) {
    if (name == "config-dir" || name == "help") {
      return Error{"--config-dir=" + dir + ": file " + name + ": not a flag a file can set"};
    }
    std::ifstream in(fs::path(dir) / name, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    std::string value = text.str();
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) {
      value.pop_back();
    }
    if (!in || value.find('\n') != std::string::npos) {
      return Error{"--config-dir=" + dir + ": file " + name +
                   (in ? ": a value is one line" : ": cannot be read")};
    }
    out.push_back("--" + name + "=" + value);
  }
  return out;
}
}  // namespace

Result<Flags> parseFlags(const std::vector<std::string>& given) {
  // --config-dir's flags come first, so that the command line's win.
  std::vector<std::string> args;
  std::vector<std::string> origin;  // for the flags of files: "--config-dir=DIR: file NAME: "
  for (std::size_t i = 0; i < given.size(); ++i) {
    std::string dir;
    if (startsWith(given[i], "--config-dir=")) {
      dir = given[i].substr(13);
    } else if (given[i] == "--config-dir" && i + 1 < given.size()) {
      dir = given[i + 1];
    } else {
      continue;
    }
    auto from_dir = configDirFlags(dir);
    if (!from_dir.ok()) {
      return Error{from_dir.error()};
    }
    for (const std::string& a : *from_dir) {
      args.push_back(a);
      origin.push_back("--config-dir=" + dir + ": file " + a.substr(2, a.find('=') - 2) + ": ");
    }
  }
  args.insert(args.end(), given.begin(), given.end());
  const auto from = [&origin](std::size_t i) { return i < origin.size() ? origin[i] : ""; };
  Flags flags;
  flags.proxy.access_log = proxy::AccessLogFormat::kJson;  // the flag's default
  flags.proxy.workers = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  flags.proxy.https_port = 8443;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (!startsWith(arg, "--")) {
      return Error{"unexpected argument \"" + arg + "\" (flags start with --; see --help)"};
    }
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (const auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const FlagSpec* spec = nullptr;
    for (const auto& s : specs()) {
      if (name == s.name) {
        spec = &s;
      }
    }
    if (spec == nullptr) {
      return Error{from(i) + "unknown flag --" + name + " (see --help)"};
    }
    if (!value) {
      if (spec->value_name == nullptr) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return Error{"--" + name + " needs a value (" + spec->value_name + ")"};
      }
    }
    if (auto err = spec->set(flags, *value)) {
      return Error{from(i) + "--" + name + "=" + *value + ": " + *err};
    }
  }
  return flags;
}

std::string usage() {
  std::string out =
      "portico: a Kubernetes ingress controller with an embedded HTTP proxy.\n\n"
      "Usage: portico [--manifests DIR | --kubeconfig PATH] [flags]\n\nFlags:\n";
  for (const auto& s : specs()) {
    std::string left = std::string("  --") + s.name;
    if (s.value_name != nullptr) {
      left += std::string(" ") + s.value_name;
    }
    if (left.size() < 36) {
      left.resize(36, ' ');
    } else {
      left += "\n" + std::string(36, ' ');
    }
    out += left + s.help;
    if (s.default_text[0] != '\0') {
      out += std::string(" (default: ") + s.default_text + ")";
    }
    out += "\n";
  }
  return out;
}

}  // namespace portico::app
