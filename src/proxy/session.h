#pragma once
// Internal to src/proxy: one downstream (client) connection and the requests on it.
//
// Request phases, named as in logs and metrics (after Pingora): readHeader -> route ->
// selectUpstream -> connect -> forwardRequest -> upstreamHeaders -> forwardBody -> finish.
// Each asynchronous step is a doX()/onX() pair; each onX() starts with its error check; a
// deadline is set before every read, write and connect. No exceptions on this path.

#include "proxy/net.h"
#include "proxy/upstream_pool.h"
#include "proxy/worker.h"

#include <array>
#include <memory>
#include <optional>

namespace portico::proxy {

// Why a request failed, and where; proxyErrorStatus() maps it to the status sent.
enum class Phase {
  kReadHeader,
  kRoute,
  kSelectUpstream,
  kConnect,
  kForwardRequest,
  kUpstreamHeaders,
  kForwardBody
};
enum class Cause {
  kMalformed,
  kHeadersTooLarge,
  kBodyTooLarge,
  kClientTimeout,
  kNoRoute,
  kNoEndpoint,
  kRefused,
  kTimeout,
  kInvalidResponse
};
struct ProxyError {
  Phase phase;
  Cause cause;
};
unsigned proxyErrorStatus(const ProxyError& error);
const char* phaseName(Phase phase);

// Up to five buffers written with one gather write: head, chunk prefix, data, CRLF, last chunk.
struct Gather {
  std::array<net::const_buffer, 5> items;
  std::size_t count = 0;
  void add(net::const_buffer b) {
    if (b.size() > 0) {
      items[count++] = b;
    }
  }
  const net::const_buffer* begin() const { return items.data(); }
  const net::const_buffer* end() const { return items.data() + count; }
};

class Session final : public std::enable_shared_from_this<Session> {
 public:
  Session(Worker& worker, tcp::socket socket);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start();
  // Worker is draining: close now if idle between requests, else after the current response.
  void drain();

 private:
  using RequestParser = http::request_parser<http::buffer_body>;
  using ResponseParser = http::response_parser<http::buffer_body>;

  void doReadRequest();
  void onIdleRead(error_code ec, std::size_t n);
  void doReadHeader();
  void onReadHeader(error_code ec);
  void route();
  void selectUpstream();
  void doConnect(const snapshot::Endpoint& endpoint);
  void onConnect(error_code ec);
  void forwardRequest();
  void onWriteContinue(error_code ec);
  void doReadRequestBody();
  void onReadRequestBody(error_code ec);
  // Writes the head (once), then `n` bytes of request_buf_ framed as the body goes on.
  void writeRequestPiece(std::size_t n);
  void onWriteRequest(error_code ec, bool last);
  void doReadResponseHeader();
  void onReadResponseHeader(error_code ec);
  void doReadResponseBody();
  void onReadResponseBody(error_code ec);
  void writeResponsePiece(std::size_t n);
  static Gather framePiece(const std::string& head, bool head_sent, bool chunked,
                           std::array<char, 20>& prefix, const char* data, std::size_t n,
                           bool last);
  void onWriteResponse(error_code ec, bool last);
  void finishRequest();

  // Upstream failed before any byte reached the client: retry when safe, else answer.
  void upstreamFailed(Phase phase, error_code ec);
  bool retryable(Phase phase) const;
  void fail(const ProxyError& error);
  void respondLocal(unsigned status, bool keep_alive);
  void onWriteLocal(error_code ec, bool keep_alive);

  void startTunnel();
  void pumpTunnel(bool client_to_upstream);
  void armTunnelIdle();
  void closeTunnel();

  void shutdownAndLinger();
  void doLinger();
  void close();

  Worker& worker_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::string client_address_;
  // The header deadline is a timer of its own, not the stream's: a timed-out beast::tcp_stream
  // closes its socket, and a 408 must still be written.
  net::steady_timer header_timer_;
  bool header_timed_out_ = false;
  bool first_request_ = true;
  bool idle_ = false;
  bool closed_ = false;
  std::size_t linger_bytes_ = 0;

  // The request in flight.
  std::shared_ptr<const snapshot::Snapshot> snapshot_;
  const snapshot::TargetGroup* target_group_ = nullptr;
  std::optional<RequestParser> req_parser_;
  std::optional<ResponseParser> res_parser_;
  std::string request_head_;   // as sent upstream; kept for retries
  std::string response_head_;  // as sent to the client (or a local response)
  bool request_head_sent_ = false;
  bool response_head_sent_ = false;
  bool chunked_up_ = false;    // the request body goes upstream chunked
  bool chunked_down_ = false;  // the response body goes to the client chunked
  std::array<char, 20> request_chunk_prefix_{};
  std::array<char, 20> response_chunk_prefix_{};
  std::unique_ptr<UpstreamConn> upstream_;
  int attempts_ = 0;
  bool client_keep_alive_ = true;
  unsigned client_version_ = 11;  // as the client sent it (the upstream always gets 1.1)
  bool head_request_ = false;
  bool upgrade_request_ = false;
  bool expect_continue_ = false;
  bool request_body_started_ = false;  // bytes of the body were read from the client
  bool response_started_ = false;      // bytes of the response were written to the client
  bool header_only_response_ = false;

  // Tunnel state (Upgrade).
  std::optional<net::steady_timer> tunnel_timer_;
  bool tunnel_active_flag_ = false;
  int tunnel_open_directions_ = 0;

  std::array<char, 16 * 1024> request_buf_{};
  std::array<char, 16 * 1024> response_buf_{};
};

}  // namespace portico::proxy
