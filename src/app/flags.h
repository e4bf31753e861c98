#pragma once
// Command-line flags (DESIGN.md, "Flags": names and defaults are fixed). Pure; parse once at
// start-up on the main thread.

#include "common/log.h"
#include "common/result.h"
#include "config/compiler.h"
#include "proxy/config.h"

#include <chrono>
#include <string>
#include <vector>

namespace portico::app {

struct Flags {
  bool help = false;
  std::string manifests;
  std::string kubeconfig;
  std::string context;
  proxy::ProxyConfig proxy;  // proxy.https_port: 8443 unless --https-port says otherwise
  std::string default_ssl_certificate;  // "namespace/name" of a kubernetes.io/tls Secret
  std::uint16_t admin_port = 9090;
  config::Options compiler;
  std::string watch_namespace;
  std::string publish_service;
  std::string publish_status_address;
  std::string election_id = "portico-leader";
  std::string election_namespace;
  bool leader_elect = true;
  std::chrono::milliseconds shutdown_grace{30'000};
  log::Level log_level = log::Level::kInfo;
  log::Format log_format = log::Format::kJson;
};

// Parses argv (without argv[0]). Accepts "--flag value" and "--flag=value"; booleans also as
// a bare "--flag". Errors name the flag and say what was expected.
Result<Flags> parseFlags(const std::vector<std::string>& args);

// The text `portico --help` prints: every flag, its default and meaning.
std::string usage();

}  // namespace portico::app
