#pragma once
// How a test's API client reaches an in-process test-apiserver.

#include "apiserver/server.h"
#include "k8s/kubeconfig.h"

#include <cstdint>
#include <string>

namespace portico::apiserver {

inline k8s::ApiConfig apiConfigFor(const ApiServer& server, std::uint16_t port) {
  k8s::ApiConfig c;
  c.server = "https://127.0.0.1:" + std::to_string(port);
  c.ca_pem = server.caPem();
  c.token = server.token();
  return c;
}

}  // namespace portico::apiserver
