#pragma once
// Internal to src/proxy: a tunnel after a 101 Switching Protocols (websocket and other Upgrade
// requests). Bytes are pumped both ways until each side has finished, or nothing has moved for
// the idle timeout. Templated on the client stream (plain or TLS); the upstream is the exchange's
// connection, which the tunnel now owns.
//
// Thread: the worker's. Lifetime: shared_ptr held by its pending handlers; it holds the client
// connection, which it closes when it ends.

#include "proxy/http1_connection.h"
#include "proxy/net.h"
#include "proxy/upstream_pool.h"

#include <array>
#include <chrono>
#include <memory>

namespace portico::proxy {

// An EndpointHolder while open: a tunnel to an endpoint that is draining closes when the
// endpoint's deregistration delay is over, as the requests on it end.
template <class Stream>
class Tunnel final : public std::enable_shared_from_this<Tunnel<Stream>>, public EndpointHolder {
 public:
  Tunnel(std::shared_ptr<Http1Connection<Stream>> owner, Stream& client,
         beast::flat_buffer& client_buffer, UpstreamConnPtr upstream, net::io_context& ioc,
         std::chrono::milliseconds idle_timeout,
         std::shared_ptr<runtime::EndpointState> endpoint = nullptr)
      : owner_(std::move(owner)),
        client_(client),
        client_buffer_(client_buffer),
        upstream_(std::move(upstream)),
        timer_(ioc),
        idle_timeout_(idle_timeout),
        endpoint_(std::move(endpoint)) {}
  ~Tunnel() { owner_->worker().unlinkHolder(this); }
  Tunnel(const Tunnel&) = delete;
  Tunnel& operator=(const Tunnel&) = delete;

  runtime::EndpointState* heldEndpoint() const override { return endpoint_.get(); }
  void deregistrationExpired() override { close(); }

  void start() {
    if (endpoint_ != nullptr) {
      owner_->worker().linkHolder(this);
    }
    beast::get_lowest_layer(client_).expires_never();
    upstream_->stream.expires_never();
    open_ = 2;
    armIdle();
    // Bytes that arrived behind the heads go first.
    auto self = this->shared_from_this();
    if (client_buffer_.size() > 0) {
      net::async_write(upstream_->stream, client_buffer_.data(),
                       [self](error_code ec, std::size_t n) {
                         if (ec) {
                           return self->close();
                         }
                         self->client_buffer_.consume(n);
                         self->pumpUp();
                       });
    } else {
      pumpUp();
    }
    if (upstream_->buffer.size() > 0) {
      net::async_write(client_, upstream_->buffer.data(), [self](error_code ec, std::size_t n) {
        if (ec) {
          return self->close();
        }
        self->upstream_->buffer.consume(n);
        self->pumpDown();
      });
    } else {
      pumpDown();
    }
  }

 private:
  void pumpUp() { pump(client_, upstream_->stream, up_buf_); }
  void pumpDown() { pump(upstream_->stream, client_, down_buf_); }

  template <class From, class To>
  void pump(From& from, To& to, std::array<char, 16 * 1024>& buf) {
    if (closed_) {
      return;
    }
    auto self = this->shared_from_this();
    from.async_read_some(net::buffer(buf), [self, &from, &to, &buf](error_code ec, std::size_t n) {
      if (self->closed_) {
        return;
      }
      if (ec) {
        // One side finished: pass the end on, and close once both have.
        error_code ignored;
        beast::get_lowest_layer(to).socket().shutdown(tcp::socket::shutdown_send, ignored);
        if (--self->open_ == 0 || ec != net::error::eof) {
          self->close();
        }
        return;
      }
      self->active_ = true;
      net::async_write(to, net::buffer(buf.data(), n),
                       [self, &from, &to, &buf](error_code wec, std::size_t) {
                         if (wec) {
                           return self->close();
                         }
                         self->pump(from, to, buf);
                       });
    });
  }

  void armIdle() {
    timer_.expires_after(idle_timeout_);
    timer_.async_wait([self = this->shared_from_this()](error_code ec) {
      if (ec || self->closed_) {
        return;
      }
      if (!self->active_) {
        return self->close();
      }
      self->active_ = false;
      self->armIdle();
    });
  }

  void close() {
    if (closed_) {
      return;
    }
    closed_ = true;
    owner_->worker().unlinkHolder(this);
    timer_.cancel();
    error_code ignored;
    beast::get_lowest_layer(upstream_->stream).socket().close(ignored);
    owner_->close();
  }

  std::shared_ptr<Http1Connection<Stream>> owner_;
  Stream& client_;
  beast::flat_buffer& client_buffer_;
  UpstreamConnPtr upstream_;
  net::steady_timer timer_;
  std::chrono::milliseconds idle_timeout_;
  std::shared_ptr<runtime::EndpointState> endpoint_;  // the upstream's, for its drain deadline
  int open_ = 0;
  bool active_ = false;
  bool closed_ = false;
  std::array<char, 16 * 1024> up_buf_{};
  std::array<char, 16 * 1024> down_buf_{};
};

}  // namespace portico::proxy
