#pragma once
// Internal to src/proxy: one request, from route to log (Envoy's ActiveStream; later one per
// HTTP/2 stream). It holds the published config the request started with, the route match, the
// retry loop and the error-to-status mapping, and runs the phases by name:
//
//   route -> requestPolicies -> action -> selectUpstream -> connect -> forwardRequest
//         -> upstreamHeaders -> responsePolicies -> forwardBody -> log
//
// Full duplex: once the request head is upstream, the response is read while the request body
// still streams, so an early answer (a 401 or 413 before the upload ends) reaches the client as
// that answer. Each asynchronous step is a doX()/onX() pair whose onX() starts with its checks;
// handlers carry the exchange id and the upstream attempt id, so a handler of a request or an
// attempt that has ended does nothing.
//
// Thread: the worker's. Owned by its Http1Connection (a member, reused for every request).

#include "proxy/body_pump.h"
#include "proxy/http_util.h"
#include "proxy/net.h"
#include "proxy/proxy_error.h"
#include "proxy/request_head.h"
#include "proxy/upstream_pool.h"
#include "proxy/worker.h"
#include "runtime/published_config.h"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace portico::proxy {

template <class Stream>
class Http1Connection;
struct Worker;

template <class Stream>
class Exchange final : public EndpointHolder {
 public:
  using Connection = Http1Connection<Stream>;
  explicit Exchange(Connection& conn);
  ~Exchange() { holdEndpoint(nullptr); }
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // The connection parsed a request head: run it.
  void start();

  // EndpointHolder: the endpoint's deregistration delay ran out while this request used it.
  runtime::EndpointState* heldEndpoint() const override { return held_; }
  void deregistrationExpired() override;

 private:
  // route, requestPolicies, action
  void route();
  // selectUpstream, connect
  void selectUpstream();
  void onConnect(error_code ec, std::uint32_t attempt);
  // forwardRequest (the request body pump, client to upstream)
  void forwardRequest();
  void doReadRequestBody();
  void onReadRequestBody(error_code ec, std::uint32_t id);
  void writeRequestPiece(std::size_t n);
  void onWriteRequest(error_code ec, bool last, std::uint32_t attempt);
  // upstreamHeaders, responsePolicies
  void doReadResponseHeader();
  void onReadResponseHeader(error_code ec, std::uint32_t attempt);
  // forwardBody (the response body pump, upstream to client)
  void doReadResponseBody();
  void onReadResponseBody(error_code ec, std::uint32_t attempt);
  void writeResponsePiece(std::size_t n);
  void onWriteResponse(error_code ec, bool last, std::uint32_t id);
  // log, and hand the connection back
  void finish();
  // Counts the request in its route's series and logs it: `status` as the client saw it;
  // `local_bytes` and `local_body`: the size of a response of our own (0: forwarded).
  void complete(unsigned status, std::size_t local_bytes = 0, std::size_t local_body = 0);

  void upstreamFailed(Phase phase, error_code ec);
  bool retryable(Phase phase) const;
  void fail(const ProxyError& error);
  // Answers with a response of the proxy's own (an error, or a policy's answer).
  void answer(const LocalResponse& response);
  // Closes the upstream connection of this attempt; its pending handlers see a new attempt id.
  void dropUpstream();
  // Ends a client read still pending before the connection is handed back or answered.
  bool deferUntilClientReadEnds();
  void startTunnel();

  // The request's outcome at its endpoint, for passive health and EWMA; and the endpoint's
  // active-request count, held while an attempt uses it.
  void endpointFailed();
  void endpointAnswered(unsigned status);
  void holdEndpoint(runtime::EndpointState* endpoint);
  // The route's action, when it answers itself (redirect, fixed response); false: forward.
  bool answerAction();

  Connection& conn_;
  Worker& worker_;
  std::uint32_t id_ = 0;       // this request, among the connection's
  std::uint32_t attempt_ = 0;  // this upstream attempt, among the request's
  RequestInfo info_;
  std::string path_buf_;
  std::shared_ptr<const runtime::PublishedConfig> config_;
  const snapshot::Route* route_ = nullptr;  // the matched route (in config_'s snapshot), or null
  HeaderEdits local_headers_;               // fields of a policy's own answer (a redirect)
  HeaderEdits response_edits_;              // responsePolicies' edits to the client head
  std::string location_;                    // a redirect's Location
  std::uint32_t target_group_ = 0;
  runtime::EndpointState* endpoint_ = nullptr;
  runtime::EndpointState* held_ = nullptr;  // the endpoint this request is on, if any
  bool counting_active_ = false;            // ... and counted in its active_requests
  std::int64_t attempt_start_ns_ = 0;
  // For metrics and the access log: when the head was parsed, when the last upstream was
  // picked, how long its connect took (0: pooled), the body bytes sent to the client, and the
  // route's series.
  std::int64_t start_ns_ = 0;
  std::int64_t upstream_start_ns_ = 0;
  std::int64_t connect_ns_ = 0;
  std::uint64_t body_out_ = 0;
  metrics::RequestStats* stats_ = nullptr;
  bool request_id_generated_ = false;  // request_id_ holds this request's id
  std::uint64_t ring_key_ = 0;         // ring_hash's key for this request
  std::string sticky_cookie_;          // Set-Cookie of a sticky forward, or empty
  UpstreamConnPtr upstream_;
  std::string request_head_;   // as sent upstream; kept for retries
  std::string response_head_;  // as sent to the client
  std::array<char, 32> request_id_{};
  BodyFramer up_;
  BodyFramer down_;
  int attempts_ = 0;
  int interim_responses_ = 0;  // 1xx responses of this attempt
  unsigned status_ = 0;
  bool keep_alive_ = true;
  bool head_request_ = false;
  bool continue_sent_ = false;
  bool request_body_started_ = false;  // body bytes were read from the client
  bool request_done_ = false;          // the whole request went upstream
  bool client_reading_ = false;        // a read of the request body is pending on the client
  bool upstream_writing_ = false;      // a write of the request is pending upstream
  bool response_started_ = false;      // bytes of the response were written to the client
  bool response_done_ = false;
  bool header_only_ = false;
  bool finish_after_read_ = false;
  std::optional<ProxyError> fail_after_read_;
  std::optional<LocalResponse> local_after_read_;
  std::array<char, 16 * 1024> request_buf_;  // not zero-filled: written before read
  std::array<char, 16 * 1024> response_buf_;
};

}  // namespace portico::proxy
