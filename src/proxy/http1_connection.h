#pragma once
// Internal to src/proxy: one client connection speaking HTTP/1.1, templated on its stream
// (DeadlineStream now, ssl_stream<DeadlineStream> with TLS), after Beast's server-flex.
//
// It reads and parses request heads (one parser, reset per message, with header and body limits),
// keeps the connection alive and pipelined, owns the header deadline, answers what cannot
// become an exchange (400, 408, 414, 431), lingers after an error, and drains. Each request it
// parses runs in its Exchange; the exchange hands the connection back with exchangeDone().
// Socket options and deadlines go through beast::get_lowest_layer(), never the stream's socket.
//
// Thread: the worker's. Lifetime: shared_ptr; every pending handler holds one.

#include "proxy/deadline_stream.h"
#include "proxy/exchange.h"
#include "proxy/h1_parser.h"
#include "proxy/http_util.h"
#include "proxy/net.h"
#include "proxy/worker.h"

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

namespace portico::proxy {

template <class Stream>
class Http1Connection final : public ClientConnection,
                              public std::enable_shared_from_this<Http1Connection<Stream>> {
 public:
  Http1Connection(Worker& worker, Stream stream);
  ~Http1Connection();
  Http1Connection(const Http1Connection&) = delete;
  Http1Connection& operator=(const Http1Connection&) = delete;

  void start();
  void drain() override;

  // For the exchange.
  Worker& worker() { return worker_; }
  Stream& stream() { return stream_; }
  beast::flat_buffer& buffer() { return buffer_; }
  H1Parser& parser() { return parser_; }
  std::string_view clientAddress() const { return client_address_; }
  // The client's address as IPv6 (IPv4 mapped), for source-ip conditions; null when unknown.
  const std::array<std::uint8_t, 16>* clientIp() const { return has_ip_ ? &client_ip_ : nullptr; }
  // What the upstream is told of the listener: X-Forwarded-Proto and X-Forwarded-Port.
  static constexpr bool kTls = !std::is_same_v<Stream, DeadlineStream>;
  std::string_view proto() const { return kTls ? "https" : "http"; }
  std::string_view listenPortText() const {
    return kTls ? worker_.tls_listen_port_text : worker_.listen_port_text;
  }
  bool closed() const { return closed_; }
  // Answers with a response of the proxy's own, then reads the next request or closes.
  // Returns the bytes it writes.
  std::size_t respond(const LocalResponse& response, bool keep_alive, bool head_only);
  // Client connection states, for portico_connections{state}.
  enum class State : std::uint8_t { kReading, kWriting, kIdle, kNone };
  void setState(State s);
  // The exchange is over and nothing is pending on the client stream.
  void exchangeDone(bool keep_alive);
  void close();

 private:
  void onHandshake(error_code ec);
  void doReadRequest();
  void readFirstBytes();
  void onFirstBytes(error_code ec, std::size_t n);
  bool skipEmptyLines();
  void doReadHeader();
  void parseBufferedHeader();
  void onReadHeader(error_code ec);
  void armHeaderDeadline();
  void disarmHeaderDeadline();
  void failHeader(Cause cause);
  void onWriteLocal(error_code ec, bool keep_alive);
  void shutdownAndLinger();
  void doLinger();

  Worker& worker_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::string client_address_;
  std::array<std::uint8_t, 16> client_ip_{};
  bool has_ip_ = false;
  bool header_armed_ = false;  // the stream's deadline is the header deadline
  bool first_request_ = true;
  bool idle_ = false;
  bool closed_ = false;
  bool tls_shutdown_started_ = false;  // close_notify sent (TLS only)
  State state_ = State::kNone;
  std::size_t skipped_bytes_ = 0;
  std::size_t linger_bytes_ = 0;
  H1Parser parser_{H1Parser::Kind::kRequest};
  std::string local_head_;
  std::array<char, 4096> linger_buf_;  // discarded bytes: never read
  Exchange<Stream> exchange_;
};

}  // namespace portico::proxy
