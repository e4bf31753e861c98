#pragma once
// A small Kubernetes API client over cpprestsdk: one-shot requests and line-by-line streams
// (watches). TLS with the kubeconfig's CA (the only trusted root when one is given), bearer
// tokens (a token file is re-read every minute, as client-go does, so rotated service-account
// tokens keep working), client certificates.
//
// Threads: every method may be called from any thread; calls block the caller (each watch loop
// runs on a thread of its own; see the reference, B.4: never block cpprestsdk's pool).
// cancel() ends every request and stream in flight, for shutdown.

#include "common/result.h"
#include "k8s/kubeconfig.h"

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

namespace portico::k8s {

struct ApiResponse {
  int status = 0;
  std::string body;
};

// A failed call: HTTP status (0 when no response came), Status reason and message.
struct ApiFailure {
  int status = 0;
  std::string reason;
  std::string message;
  std::string toString() const;
};

template <class T>
using ApiResult = std::variant<T, ApiFailure>;

class ApiClient final {
 public:
  explicit ApiClient(ApiConfig config);
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  // path: "/apis/networking.k8s.io/v1/ingresses?limit=500" (query values already encoded).
  // 2xx gives the response; anything else an ApiFailure decoded from the Status body.
  ApiResult<ApiResponse> request(const std::string& method, const std::string& path,
                                 const std::string& body = {},
                                 const std::string& content_type = "application/json");

  // Opens `path` and calls on_line for each line as it arrives. Returns the HTTP status when the
  // stream ends cleanly, or a failure (transport error, non-2xx answer, cancel()).
  // idle_timeout: the longest silence tolerated between two reads.
  ApiResult<int> stream(const std::string& path,
                        const std::function<void(std::string_view line)>& on_line,
                        std::chrono::seconds idle_timeout);

  void cancel();
  const ApiConfig& config() const { return config_; }

 private:
  struct Impl;
  ApiConfig config_;
  std::unique_ptr<Impl> impl_;
};

// Percent-encodes a query value.
std::string urlEncode(std::string_view value);

}  // namespace portico::k8s
