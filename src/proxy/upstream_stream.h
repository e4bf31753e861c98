#pragma once
// Internal to src/proxy: the stream of one upstream connection, plain TCP or TLS over it
// (portico.dev/backend-protocol: HTTPS). One type for both, so that the exchange, the pool and
// the tunnel are written once: each read and write takes one branch on whether TLS is on.
//
// Beast's get_lowest_layer() reaches the DeadlineStream underneath (next_layer()), whose deadline
// covers the TLS records as it covers plain bytes. Thread: the worker's.

#include "proxy/deadline_stream.h"
#include "proxy/net.h"

#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <memory>
#include <optional>
#include <string>
#include <utility>

struct ssl_ctx_st;

namespace portico::proxy {

class UpstreamStream {  // not final: Asio's executor traits derive from the types they test
 public:
  using executor_type = DeadlineStream::executor_type;
  using next_layer_type = DeadlineStream;

  explicit UpstreamStream(Deadlines& deadlines) : tcp_(deadlines) {}
  UpstreamStream(const UpstreamStream&) = delete;
  UpstreamStream& operator=(const UpstreamStream&) = delete;

  executor_type get_executor() noexcept { return tcp_.get_executor(); }
  DeadlineStream& next_layer() { return tcp_; }
  const DeadlineStream& next_layer() const { return tcp_; }
  Socket& socket() { return tcp_.socket(); }

  void expires_after(std::chrono::milliseconds timeout) { tcp_.expires_after(timeout); }
  void expires_never() { tcp_.expires_never(); }

  // Puts TLS over the connected socket, with a new SSL of `ctx` (shared; not kept).
  void startTls(ssl_ctx_st* ctx);
  bool tls() const { return tls_.has_value(); }
  // OpenSSL's SSL* of the TLS layer (startTls first).
  void* sslHandle() { return tls_->native_handle(); }

  template <class Handler>
  void async_handshake(Handler&& handler) {
    tls_->async_handshake(net::ssl::stream_base::client, std::forward<Handler>(handler));
  }

  template <class MutableBuffers, class Handler>
  void async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    if (!tls_) {
      tcp_.async_read_some(buffers, std::forward<Handler>(handler));
      return;
    }
    // A backend that closes without close_notify ends its stream as a plain one does (nginx,
    // Envoy and most servers accept it): what that ends is decided by the message's framing,
    // and a body cut short is still partial_message.
    tls_->async_read_some(
        buffers, [h = std::forward<Handler>(handler)](error_code ec, std::size_t n) mutable {
          if (ec == net::ssl::error::stream_truncated) {
            ec = net::error::eof;
          }
          h(ec, n);
        });
  }

  template <class ConstBuffers, class Handler>
  void async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    if (!tls_) {
      tcp_.async_write_some(buffers, std::forward<Handler>(handler));
      return;
    }
    tls_->async_write_some(buffers, std::forward<Handler>(handler));
  }

 private:
  DeadlineStream tcp_;
  std::optional<net::ssl::stream<DeadlineStream&>> tls_;
};

}  // namespace portico::proxy
