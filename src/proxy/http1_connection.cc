#include "proxy/http1_connection.h"

#include "common/log.h"
#include "proxy/io_ops.h"
#include "proxy/tls_stream.h"

namespace portico::proxy {

namespace {
// After an error response, how long unread request bytes are drained before the socket closes,
// so that a client still sending does not get a reset that destroys the response (nginx's
// lingering close).
constexpr std::chrono::seconds kLingerTimeout{2};
constexpr std::size_t kLingerMaxBytes = 1 << 20;
// Empty lines before a request line are ignored (RFC 9112 2.2), up to this many bytes.
constexpr std::size_t kMaxSkippedBytes = 4096;
}  // namespace

template <class Stream>
Http1Connection<Stream>::Http1Connection(Worker& worker, Stream stream)
    : worker_(worker), stream_(std::move(stream)), exchange_(*this) {
  buffer_.reserve(kReadBufferReserve);
  worker_.connections.insert(this);
  worker_.connection_count.fetch_add(1, std::memory_order_relaxed);
  setState(State::kReading);
  auto& socket = beast::get_lowest_layer(stream_).socket();
  error_code ec;
  const auto remote = socket.remote_endpoint(ec);
  if (!ec) {
    client_address_ = remote.address().to_string();
    const auto address = remote.address();
    client_ip_ = address.is_v4()
                     ? net::ip::make_address_v6(net::ip::v4_mapped, address.to_v4()).to_bytes()
                     : address.to_v6().to_bytes();
    has_ip_ = true;
  }
  socket.set_option(tcp::no_delay(true), ec);
}

template <class Stream>
Http1Connection<Stream>::~Http1Connection() {
  worker_.connections.erase(this);
  setState(State::kNone);
  worker_.connection_count.fetch_sub(1, std::memory_order_relaxed);
}

template <class Stream>
void Http1Connection<Stream>::start() {
  if constexpr (kTls) {
    // The handshake runs under the header deadline, which goes on over the first request's
    // head: a client that stalls mid-handshake or sends garbage is closed within it.
    armHeaderDeadline();
    stream_.async_handshake(
        net::ssl::stream_base::server,
        [self = this->shared_from_this()](error_code ec) { self->onHandshake(ec); });
    return;
  }
  doReadRequest();
}

template <class Stream>
void Http1Connection<Stream>::onHandshake(error_code ec) {
  if (closed_) {
    return;
  }
  if (ec) {
    const std::size_t why = handshakeErrorReason(ec);
    worker_.stats.tls_handshake_errors[why].inc();
    const char* reason = WorkerStats::kTlsHandshakeErrorReasons[why];
    log::debug("TLS handshake failed",
               {{"reason", reason}, {"error", ec.message()}, {"client", client_address_}});
    close();
    return;
  }
  worker_.stats.tls_handshakes.inc();
  if constexpr (kTls) {
    if (SSL_session_reused(stream_.native_handle()) == 1) {
      worker_.stats.tls_resumed.inc();
    }
  }
  doReadRequest();
}

template <class Stream>
void Http1Connection<Stream>::drain() {
  if (idle_) {
    close();
  }
}

// ---- readHeader ---------------------------------------------------------------------------

template <class Stream>
void Http1Connection<Stream>::doReadRequest() {
  if (worker_.draining && !first_request_) {
    close();
    return;
  }
  skipped_bytes_ = 0;
  if (buffer_.size() > 0 && skipEmptyLines()) {
    doReadHeader();  // a pipelined request is already here
    return;
  }
  readFirstBytes();
}

// Waits for the first bytes of a request: under the header deadline on a new connection (or
// once empty lines have come), under the keep-alive timeout between requests.
template <class Stream>
void Http1Connection<Stream>::readFirstBytes() {
  if (first_request_ && !header_armed_) {
    armHeaderDeadline();
  }
  idle_ = !header_armed_;
  setState(idle_ ? State::kIdle : State::kReading);
  if (!header_armed_) {
    beast::get_lowest_layer(stream_).expires_after(worker_.config.keepalive_timeout);
  }
  stream_.async_read_some(
      buffer_.prepare(4096),
      beast::bind_front_handler(&Http1Connection::onFirstBytes, this->shared_from_this()));
}

template <class Stream>
void Http1Connection<Stream>::onFirstBytes(error_code ec, std::size_t n) {
  idle_ = false;
  setState(State::kReading);
  if (ec) {
    close();  // idle timeout, client closed, drained, or a new connection that never spoke
    return;
  }
  buffer_.commit(n);
  if (!skipEmptyLines()) {
    if (skipped_bytes_ > kMaxSkippedBytes) {
      close();
      return;
    }
    if (!header_armed_) {
      armHeaderDeadline();
    }
    readFirstBytes();
    return;
  }
  doReadHeader();
}

// Drops CR and LF bytes before a request line; false when nothing else is buffered yet.
template <class Stream>
bool Http1Connection<Stream>::skipEmptyLines() {
  const auto data = buffer_.data();
  const char* p = static_cast<const char*>(data.data());
  std::size_t n = 0;
  while (n < data.size() && (p[n] == '\r' || p[n] == '\n')) {
    ++n;
  }
  buffer_.consume(n);
  skipped_bytes_ += n;
  return buffer_.size() > 0;
}

// The header deadline runs from the first byte of a request (from the accept, for the first
// request) over all the reads of its head; it is the stream's deadline, which expires by
// cancelling the read, so a 408 can still be written.
template <class Stream>
void Http1Connection<Stream>::armHeaderDeadline() {
  header_armed_ = true;
  beast::get_lowest_layer(stream_).expires_after(worker_.config.client_header_timeout);
}

template <class Stream>
void Http1Connection<Stream>::disarmHeaderDeadline() {
  if (!header_armed_) {
    return;
  }
  header_armed_ = false;
  beast::get_lowest_layer(stream_).expires_never();
}

template <class Stream>
void Http1Connection<Stream>::doReadHeader() {
  setState(State::kReading);
  parser_.reset();
  parser_.headerLimit(worker_.config.max_header_bytes);
  // The body limit is set by the exchange once the route (and its policies) are known.
  if (!header_armed_) {
    armHeaderDeadline();
  }
  parseBufferedHeader();
}

// Parses what is buffered; reads more while the head is not whole.
template <class Stream>
void Http1Connection<Stream>::parseBufferedHeader() {
  error_code ec;
  if (parseBuffered(buffer_, parser_, ec)) {
    onReadHeader(ec);  // a whole head, or an error
    return;
  }
  stream_.async_read_some(buffer_.prepare(beast::read_size(buffer_, 65536)),
                          [self = this->shared_from_this()](error_code rec, std::size_t n) {
                            if (rec == net::error::eof) {
                              rec = self->parser_.gotSome() ? http::error::partial_message
                                                            : http::error::end_of_stream;
                            }
                            if (rec) {
                              self->onReadHeader(rec);
                              return;
                            }
                            self->buffer_.commit(n);
                            self->parseBufferedHeader();
                          });
}

template <class Stream>
void Http1Connection<Stream>::onReadHeader(error_code ec) {
  disarmHeaderDeadline();
  first_request_ = false;
  if (closed_) {
    return;
  }
  if (ec == beast::error::timeout) {
    failHeader(Cause::kClientTimeout);
    return;
  }
  if (ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
      ec == net::error::connection_reset || ec == net::error::broken_pipe ||
      ec == net::error::eof || ec == http::error::partial_message) {
    worker_.stats.client_aborts.inc();
    close();  // the client went away mid-head
    return;
  }
  if (ec == http::error::body_limit) {
    failHeader(Cause::kBodyTooLarge);  // a Content-Length over the limit
    return;
  }
  if (ec == http::error::header_limit) {
    // The request line alone over the limit is a target too long (414, as nginx), else 431.
    failHeader(parser_.firstLineDone() ? Cause::kHeadersTooLarge : Cause::kUriTooLong);
    return;
  }
  if (ec) {
    log::debug("malformed request", {{"error", ec.message()}, {"client", client_address_}});
    failHeader(Cause::kMalformed);
    return;
  }
  setState(State::kWriting);
  exchange_.start();
}

template <class Stream>
void Http1Connection<Stream>::failHeader(Cause cause) {
  worker_.stats.rejected_requests.inc();
  setState(State::kWriting);
  LocalResponse r;
  r.status = proxyErrorStatus({Phase::kReadHeader, cause});
  const std::size_t sent = respond(r, /*keep_alive=*/false, /*head_only=*/false);
  // No route took it: the unmatched series, and a log line with what was read of the head.
  metrics::RequestSample sample;
  sample.status = r.status;
  sample.request_bytes = buffer_.size();
  sample.response_bytes = sent;
  if (worker_.access_log == nullptr) {
    worker_.countRequest(nullptr, sample, nullptr);
    return;
  }
  AccessRecord rec;
  rec.wall_ns = worker_.wallNs();
  std::array<char, 32> id;
  worker_.newRequestId(id.data());
  rec.request_id = std::string_view(id.data(), id.size());
  rec.client = client_address_;
  rec.status = r.status;
  rec.bytes_in = sample.request_bytes;
  rec.bytes_out = sent;
  rec.body_bytes_out = 0;
  worker_.countRequest(nullptr, sample, &rec);
}

template <class Stream>
void Http1Connection<Stream>::setState(State s) {
  if (s == state_) {
    return;
  }
  const auto gauge = [this](State st) -> metrics::LocalGauge* {
    switch (st) {
      case State::kReading:
        return &worker_.stats.connections_reading;
      case State::kWriting:
        return &worker_.stats.connections_writing;
      case State::kIdle:
        return &worker_.stats.connections_idle;
      case State::kNone:
        break;
    }
    return nullptr;
  };
  if (auto* g = gauge(state_)) {
    g->add(-1);
  }
  if (auto* g = gauge(s)) {
    g->add(1);
  }
  state_ = s;
}

// ---- local responses ----------------------------------------------------------------------

template <class Stream>
std::size_t Http1Connection<Stream>::respond(const LocalResponse& response, bool keep_alive,
                                             bool head_only) {
  keep_alive = keep_alive && !worker_.draining;
  local_head_.clear();
  appendLocalResponse(response, worker_.date(), keep_alive, head_only, local_head_);
  beast::get_lowest_layer(stream_).expires_after(worker_.config.client_send_timeout);
  Gather g;
  g.add(net::buffer(local_head_));
  writeAll(stream_, g, [self = this->shared_from_this(), keep_alive](error_code ec, std::size_t) {
    self->onWriteLocal(ec, keep_alive);
  });
  return local_head_.size();
}

template <class Stream>
void Http1Connection<Stream>::onWriteLocal(error_code ec, bool keep_alive) {
  if (ec) {
    close();
    return;
  }
  exchangeDone(keep_alive);
}

template <class Stream>
void Http1Connection<Stream>::exchangeDone(bool keep_alive) {
  if (closed_) {
    return;
  }
  if (!keep_alive || worker_.draining) {
    shutdownAndLinger();
    return;
  }
  doReadRequest();
}

// ---- closing ------------------------------------------------------------------------------

template <class Stream>
void Http1Connection<Stream>::shutdownAndLinger() {
  if constexpr (kTls) {
    if (!tls_shutdown_started_) {
      // TLS ends with close_notify first (RFC 8446 6.1), so the client can tell this end from
      // a truncation. Marked as if the client's had come, the shutdown completes once ours is
      // written instead of waiting for the client's (which the TCP side discards, if it comes).
      tls_shutdown_started_ = true;
      SSL_set_shutdown(stream_.native_handle(), SSL_RECEIVED_SHUTDOWN);
      beast::get_lowest_layer(stream_).expires_after(kLingerTimeout);
      stream_.async_shutdown([self = this->shared_from_this()](error_code) {
        if (!self->closed_) {
          self->shutdownAndLinger();
        }
      });
      return;
    }
  }
  auto& socket = beast::get_lowest_layer(stream_).socket();
  error_code ec;
  // Lingering (nginx's lingering close) only when the client may still be sending: its request
  // was not read whole, or bytes of its are here. A request read whole with nothing behind it
  // closes at once: closing a socket with nothing unread sends a FIN, never a reset.
  const bool quiet = parser_.done() && buffer_.size() == 0 && socket.available(ec) == 0 && !ec;
  if (quiet) {
    close();
    return;
  }
  socket.shutdown(tcp::socket::shutdown_send, ec);
  if (ec) {
    close();
    return;
  }
  linger_bytes_ = 0;
  doLinger();
}

template <class Stream>
void Http1Connection<Stream>::doLinger() {
  beast::get_lowest_layer(stream_).expires_after(kLingerTimeout);
  beast::get_lowest_layer(stream_).async_read_some(
      net::buffer(linger_buf_), [self = this->shared_from_this()](error_code ec, std::size_t n) {
        self->linger_bytes_ += n;
        if (ec || self->linger_bytes_ > kLingerMaxBytes) {
          self->close();
          return;
        }
        self->doLinger();
      });
}

template <class Stream>
void Http1Connection<Stream>::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  idle_ = false;
  disarmHeaderDeadline();
  error_code ec;
  beast::get_lowest_layer(stream_).socket().close(ec);
}

template class Http1Connection<DeadlineStream>;
template class Http1Connection<TlsStream>;

}  // namespace portico::proxy
