#pragma once
// Proxy settings, filled from flags by src/app. A plain value, copied into the Server.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "proxy/access_log.h"
#include "tls/certificate.h"

namespace portico::proxy {

using std::chrono::milliseconds;

struct ProxyConfig {
  std::string bind = "0.0.0.0";
  std::uint16_t http_port = 8080;  // 0 picks a free port (tests)
  int https_port = -1;             // -1: no HTTPS listener; 0 picks a free port (tests)
  tls::ServerTlsSettings tls;      // protocol settings of the HTTPS listener
  int workers = 1;
  std::size_t max_header_bytes = 64 * 1024;        // request headers in total; over it: 431
  std::uint64_t max_body_size = 0;                 // 0: unlimited; over it: 413
  milliseconds client_header_timeout{60'000};      // whole request header; then 408
  milliseconds client_body_timeout{60'000};        // between two reads of the request body
  milliseconds keepalive_timeout{75'000};          // idle client connection between requests
  milliseconds client_send_timeout{60'000};        // between two writes to the client
  milliseconds upstream_connect_timeout{5'000};    // then the next endpoint, or 504
  milliseconds upstream_response_timeout{60'000};  // between two reads/writes upstream; then 504
  milliseconds upstream_idle_timeout{60'000};      // pooled idle upstream connection lifetime
  milliseconds tunnel_idle_timeout{3'600'000};     // websocket/Upgrade tunnel without traffic
  std::size_t max_idle_per_endpoint = 320;         // idle pooled connections per endpoint/worker
  int max_attempts = 3;                            // tries of one request across endpoints
  // Observability. Per-route request series and histograms (--enable-metrics); the access log
  // (--access-log-format: the flag's default is JSON; a library user gets none unless asked),
  // with a ring of this many bytes per worker.
  bool request_metrics = true;
  AccessLogFormat access_log = AccessLogFormat::kOff;
  std::size_t access_log_buffer = 256 << 10;
  int access_log_fd = 1;
};

}  // namespace portico::proxy
