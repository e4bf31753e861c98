#include "echo_backend.h"

#include "proxy/listen.h"
#include "proxy/net.h"

#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <nlohmann/json.hpp>

#include <charconv>
#include <map>
#include <optional>
#include <thread>

namespace portico::testing {

using namespace portico::proxy;  // NOLINT: the net/beast/http aliases
namespace websocket = beast::websocket;

struct EchoBackend::Gate {
  std::mutex mutex;
  std::vector<std::function<void()>> held;
  std::atomic<unsigned> status{0};  // failWith(): every answer's status; 0: the request's
  std::atomic<int> delay_ms{0};     // delayAll()
};

namespace {

std::map<std::string, std::string> queryParams(std::string_view target) {
  std::map<std::string, std::string> out;
  const auto q = target.find('?');
  if (q == std::string_view::npos) {
    return out;
  }
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view kv = rest.substr(0, amp);
    const auto eq = kv.find('=');
    out[std::string(kv.substr(0, eq))] =
        eq == std::string_view::npos ? "" : std::string(kv.substr(eq + 1));
    if (amp == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(amp + 1);
  }
  return out;
}

std::uint64_t toNumber(const std::map<std::string, std::string>& m, const char* key,
                       std::uint64_t fallback) {
  auto it = m.find(key);
  if (it == m.end()) {
    return fallback;
  }
  std::uint64_t v = fallback;
  std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  return v;
}

using TlsEchoStream = beast::ssl_stream<beast::tcp_stream>;

template <class Stream>
class EchoSession final : public std::enable_shared_from_this<EchoSession<Stream>> {
  using std::enable_shared_from_this<EchoSession<Stream>>::shared_from_this;

 public:
  template <class... Args>
  EchoSession(std::string name, std::shared_ptr<std::atomic<std::uint64_t>> requests,
              std::shared_ptr<EchoBackend::Gate> gate, Args&&... stream_args)
      : stream_(std::forward<Args>(stream_args)...),
        name_(std::move(name)),
        requests_(std::move(requests)),
        gate_(std::move(gate)) {
    buffer_.reserve(64 * 1024);  // Beast reads by free capacity; see kReadBufferReserve
  }

  // TLS first (a TLS backend), then requests.
  void start() {
    if constexpr (std::is_same_v<Stream, TlsEchoStream>) {
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(30));
      stream_.async_handshake(
          net::ssl::stream_base::server, [self = shared_from_this()](error_code ec) {
            if (ec) {
              return self->close();
            }
            const char* sni =
                SSL_get_servername(self->stream_.native_handle(), TLSEXT_NAMETYPE_host_name);
            self->sni_ = sni != nullptr ? sni : "";
            self->tls_version_ = SSL_get_version(self->stream_.native_handle());
            self->doRead();
          });
    } else {
      doRead();
    }
  }

  void doRead() {
    parser_.emplace();
    parser_->body_limit(kUnlimitedBody);
    parser_->header_limit(1 << 20);
    body_bytes_ = 0;
    hash_ = 1469598103934665603ULL;
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(120));
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](error_code ec, std::size_t) { self->onHeader(ec); });
  }

 private:
  void onHeader(error_code ec) {
    if (ec) {
      return close();
    }
    requests_->fetch_add(1);
    auto& req = parser_->get();
    if (websocket::is_upgrade(req)) {
      return upgrade();
    }
    readBody();
  }

  void readBody() {
    if (parser_->is_done()) {
      return answer();
    }
    parser_->get().body().data = buf_.data();
    parser_->get().body().size = buf_.size();
    http::async_read_some(
        stream_, buffer_, *parser_, [self = shared_from_this()](error_code ec, std::size_t) {
          if (ec == http::error::need_buffer) {
            ec = {};
          }
          if (ec) {
            return self->close();
          }
          const std::size_t n = self->buf_.size() - self->parser_->get().body().size;
          for (std::size_t i = 0; i < n; ++i) {
            self->hash_ =
                (self->hash_ ^ static_cast<unsigned char>(self->buf_[i])) * 1099511628211ULL;
          }
          self->body_bytes_ += n;
          self->readBody();
        });
  }

  void answer() {
    auto& req = parser_->get();
    const std::string_view target(req.target().data(), req.target().size());
    params_ = queryParams(target);
    if (params_.count("gate") != 0) {
      std::lock_guard<std::mutex> lock(gate_->mutex);
      gate_->held.push_back([self = shared_from_this()] {
        net::post(beast::get_lowest_layer(self->stream_).get_executor(),
                  [self] { self->respond(); });
      });
      return;
    }
    const auto delay =
        std::max<std::int64_t>(toNumber(params_, "delay_ms", 0), gate_->delay_ms.load());
    if (delay > 0) {
      timer_.emplace(beast::get_lowest_layer(stream_).get_executor());
      timer_->expires_after(std::chrono::milliseconds(delay));
      timer_->async_wait([self = shared_from_this()](error_code) { self->respond(); });
      return;
    }
    respond();
  }

  void respond() {
    auto& req = parser_->get();
    const std::string_view target(req.target().data(), req.target().size());
    const unsigned forced = gate_->status.load();
    const unsigned status =
        forced != 0 ? forced : static_cast<unsigned>(toNumber(params_, "status", 200));
    keep_alive_ = req.keep_alive() && params_.count("close") == 0;
    if (params_.count("bytes") != 0) {
      remaining_ = toNumber(params_, "bytes", 0);
      stream_res_ = {};
      stream_res_.version(11);
      stream_res_.result(status);
      stream_res_.set(http::field::server, "echo-backend");
      stream_res_.set(http::field::content_type, "application/octet-stream");
      stream_res_.set("X-Backend-Name", name_);
      if (params_.count("chunked") != 0) {
        stream_res_.chunked(true);
      } else {
        stream_res_.content_length(remaining_);
      }
      stream_res_.keep_alive(keep_alive_);
      std::fill(buf_.begin(), buf_.end(), 'x');
      serializer_.emplace(stream_res_);
      return writeChunk();
    }
    nlohmann::json headers = nlohmann::json::object();
    for (const auto& f : req) {
      headers[std::string(f.name_string())].push_back(std::string(f.value()));
    }
    nlohmann::json body = {
        {"name", name_},
        {"method", std::string(req.method_string())},
        {"path", std::string(target)},
        {"host", std::string(req[http::field::host])},
        {"proto", req.version() == 11 ? "HTTP/1.1" : "HTTP/1.0"},
        {"headers", headers},
        {"bodyBytes", body_bytes_},
        {"bodyHash", std::to_string(hash_)},
    };
    if (!tls_version_.empty()) {
      body["tls"] = {{"sni", sni_}, {"version", tls_version_}};
    }
    res_ = {};
    res_.version(11);
    res_.result(status);
    res_.set(http::field::server, "echo-backend");
    res_.set(http::field::content_type, "application/json");
    res_.set("X-Backend-Name", name_);
    res_.keep_alive(keep_alive_);
    if (req.method() != http::verb::head) {
      // A header or target need not be UTF-8 (obs-text): replace what is not, so that the
      // backend reports what it saw instead of aborting on nlohmann's type_error 316.
      res_.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    }
    res_.prepare_payload();
    http::async_write(stream_, res_, [self = shared_from_this()](error_code ec, std::size_t) {
      self->afterWrite(ec);
    });
  }

  void writeChunk() {
    auto& body = stream_res_.body();
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, buf_.size()));
    body.data = n > 0 ? buf_.data() : nullptr;
    body.size = n;
    body.more = remaining_ > n;
    remaining_ -= n;
    http::async_write(stream_, *serializer_,
                      [self = shared_from_this()](error_code ec, std::size_t) {
                        if (ec == http::error::need_buffer) {
                          ec = {};
                        }
                        if (ec) {
                          return self->close();
                        }
                        if (self->serializer_->is_done()) {
                          return self->afterWrite({});
                        }
                        self->writeChunk();
                      });
  }

  void afterWrite(error_code ec) {
    if (ec || !keep_alive_) {
      error_code ignored;
      beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_send, ignored);
      return;
    }
    doRead();
  }

  void upgrade() {
    ws_.emplace(std::move(stream_));
    ws_->set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_->async_accept(parser_->release(), [self = shared_from_this()](error_code ec) {
      if (!ec) {
        self->wsRead();
      }
    });
  }

  void wsRead() {
    ws_->async_read(ws_buffer_, [self = shared_from_this()](error_code ec, std::size_t) {
      if (ec) {
        return;
      }
      self->ws_->text(self->ws_->got_text());
      self->ws_->async_write(self->ws_buffer_.data(), [self](error_code wec, std::size_t) {
        if (wec) {
          return;
        }
        self->ws_buffer_.consume(self->ws_buffer_.size());
        self->wsRead();
      });
    });
  }

  void close() {
    error_code ignored;
    beast::get_lowest_layer(stream_).socket().close(ignored);
  }

  Stream stream_;
  std::string name_;
  std::shared_ptr<std::atomic<std::uint64_t>> requests_;
  std::shared_ptr<EchoBackend::Gate> gate_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::buffer_body>> parser_;
  std::array<char, 64 * 1024> buf_{};
  std::uint64_t body_bytes_ = 0;
  std::uint64_t hash_ = 0;
  std::map<std::string, std::string> params_;
  bool keep_alive_ = true;
  http::response<http::string_body> res_;
  http::response<http::buffer_body> stream_res_;
  std::optional<http::response_serializer<http::buffer_body>> serializer_;
  std::uint64_t remaining_ = 0;
  std::optional<net::steady_timer> timer_;
  std::optional<websocket::stream<Stream>> ws_;
  beast::flat_buffer ws_buffer_;
  std::string sni_;          // TLS: the server name the client sent
  std::string tls_version_;  // TLS: "TLSv1.3"; empty for plain HTTP
};

}  // namespace

struct EchoBackend::Impl {
  net::io_context ioc{1};
  std::optional<tcp::acceptor> acceptor;
  std::unique_ptr<net::ssl::context> tls;  // set: a TLS backend
  std::thread thread;
};

EchoBackend::EchoBackend(std::string name)
    : name_(std::move(name)),
      requests_(std::make_shared<std::atomic<std::uint64_t>>(0)),
      connections_(std::make_shared<std::atomic<std::uint64_t>>(0)),
      gate_(std::make_shared<Gate>()),
      impl_(std::make_unique<Impl>()) {}

void EchoBackend::failWith(unsigned status) { gate_->status = status; }
void EchoBackend::delayAll(int ms) { gate_->delay_ms = ms; }

std::size_t EchoBackend::heldCount() const {
  std::lock_guard<std::mutex> lock(gate_->mutex);
  return gate_->held.size();
}

void EchoBackend::release() {
  std::vector<std::function<void()>> held;
  {
    std::lock_guard<std::mutex> lock(gate_->mutex);
    held.swap(gate_->held);
  }
  for (auto& go : held) {
    go();
  }
}

EchoBackend::~EchoBackend() { stop(); }

bool EchoBackend::useTls(const std::string& cert_pem, const std::string& key_pem,
                         const std::string& min_version) {
  auto ctx = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
  error_code ec;
  ctx->use_certificate_chain(net::buffer(cert_pem), ec);
  if (!ec) {
    ctx->use_private_key(net::buffer(key_pem), net::ssl::context::pem, ec);
  }
  if (ec) {
    return false;
  }
  SSL_CTX_set_min_proto_version(ctx->native_handle(),
                                min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  if (min_version == "1.0") {
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_VERSION);
    SSL_CTX_set_max_proto_version(ctx->native_handle(), TLS1_1_VERSION);
    SSL_CTX_set_security_level(ctx->native_handle(), 0);
  }
  impl_->tls = std::move(ctx);
  return true;
}

namespace {
void acceptLoop(tcp::acceptor& acceptor, net::ssl::context* tls, const std::string& name,
                std::shared_ptr<std::atomic<std::uint64_t>> requests,
                std::shared_ptr<std::atomic<std::uint64_t>> connections,
                std::shared_ptr<EchoBackend::Gate> gate) {
  acceptor.async_accept(
      [&acceptor, tls, &name, requests, connections, gate](error_code ec, tcp::socket s) {
        if (ec == net::error::operation_aborted) {
          return;
        }
        if (!ec) {
          connections->fetch_add(1);
          if (tls != nullptr) {
            std::make_shared<EchoSession<TlsEchoStream>>(name, requests, gate, std::move(s), *tls)
                ->start();
          } else {
            std::make_shared<EchoSession<beast::tcp_stream>>(name, requests, gate, std::move(s))
                ->start();
          }
        }
        acceptLoop(acceptor, tls, name, requests, connections, gate);
      });
}
}  // namespace

std::uint16_t EchoBackend::start(std::uint16_t port, const std::string& bind) {
  auto acceptor = proxy::listenOn(impl_->ioc, bind, port, /*reuse_port=*/false);
  if (!acceptor) {
    return 0;
  }
  port_ = acceptor->local_endpoint().port();
  impl_->ioc.restart();  // after a stop()
  impl_->acceptor.emplace(std::move(*acceptor));
  acceptLoop(*impl_->acceptor, impl_->tls.get(), name_, requests_, connections_, gate_);
  impl_->thread = std::thread([this] { impl_->ioc.run(); });
  return port_;
}

void EchoBackend::stop() {
  if (!impl_->thread.joinable()) {
    return;
  }
  {
    std::lock_guard<std::mutex> lock(gate_->mutex);
    gate_->held.clear();  // answers never released die with their sessions
  }
  impl_->ioc.stop();
  impl_->thread.join();
  // Closed once the loop stopped (a close posted to it might never run, or run after a restart
  // and close the new listener): a restart binds the same port again.
  impl_->acceptor.reset();
}

}  // namespace portico::testing
