#include "proxy/admin_server.h"

#include "proxy/listen.h"
#include "proxy/net.h"

#include <optional>
#include <thread>

namespace portico::proxy {

namespace {

constexpr std::chrono::seconds kAdminTimeout{30};

class AdminSession final : public std::enable_shared_from_this<AdminSession> {
 public:
  AdminSession(tcp::socket socket, AdminServer& admin)
      : stream_(std::move(socket)), admin_(admin) {}

  void doRead() {
    request_ = {};
    stream_.expires_after(kAdminTimeout);
    http::async_read(stream_, buffer_, request_,
                     beast::bind_front_handler(&AdminSession::onRead, shared_from_this()));
  }

 private:
  void onRead(error_code ec, std::size_t) {
    if (ec) {
      error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      return;
    }
    response_ = {};
    response_.version(11);
    response_.set(http::field::server, "portico");
    response_.set(http::field::content_type, "text/plain; charset=utf-8");
    const std::string_view target(request_.target().data(), request_.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    if (request_.method() != http::verb::get && request_.method() != http::verb::head) {
      response_.result(http::status::method_not_allowed);
      response_.body() = "method not allowed\n";
    } else if (path == "/healthz") {
      response_.result(http::status::ok);
      response_.body() = "ok\n";
    } else if (path == "/readyz") {
      const bool ready = admin_.ready();
      response_.result(ready ? http::status::ok : http::status::service_unavailable);
      response_.body() = ready ? "ready\n" : "not ready\n";
    } else if (path == "/metrics") {
      // OpenMetrics when the scraper asks for it (Prometheus does, first), else text 0.0.4.
      const auto accept = request_[http::field::accept];
      const metrics::Format format =
          metrics::negotiate(std::string_view(accept.data(), accept.size()));
      response_.result(http::status::ok);
      response_.set(http::field::content_type, format == metrics::Format::kOpenMetrics
                                                   ? metrics::kOpenMetricsContentType
                                                   : metrics::kTextContentType);
      response_.body() = admin_.registry().expose(format);
    } else {
      response_.result(http::status::not_found);
      response_.body() = "not found\n";
    }
    response_.keep_alive(request_.keep_alive());
    response_.prepare_payload();
    http::async_write(stream_, response_,
                      beast::bind_front_handler(&AdminSession::onWrite, shared_from_this()));
  }

  void onWrite(error_code ec, std::size_t) {
    if (ec || !response_.keep_alive()) {
      error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      return;
    }
    doRead();
  }

  beast::tcp_stream stream_;
  AdminServer& admin_;
  beast::flat_buffer buffer_;
  http::request<http::empty_body> request_;
  http::response<http::string_body> response_;
};

}  // namespace

struct AdminServer::Impl {
  net::io_context ioc{1};
  std::optional<tcp::acceptor> acceptor;
  std::thread thread;

  void doAccept(AdminServer& admin) {
    acceptor->async_accept(ioc, [this, &admin](error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted || !acceptor->is_open()) {
        return;
      }
      if (!ec) {
        std::make_shared<AdminSession>(std::move(socket), admin)->doRead();
      }
      doAccept(admin);
    });
  }
};

AdminServer::AdminServer(metrics::Registry& registry)
    : registry_(registry), impl_(std::make_unique<Impl>()) {}

AdminServer::~AdminServer() { stop(); }

Result<std::uint16_t> AdminServer::start(const std::string& bind, std::uint16_t port) {
  auto acceptor = listenOn(impl_->ioc, bind, port, /*reuse_port=*/false);
  if (!acceptor) {
    return Error{"admin: " + acceptor.error()};
  }
  const std::uint16_t bound = acceptor->local_endpoint().port();
  impl_->acceptor.emplace(std::move(*acceptor));
  impl_->doAccept(*this);
  impl_->thread = std::thread([this] { impl_->ioc.run(); });
  return bound;
}

void AdminServer::stop() {
  if (!impl_ || !impl_->thread.joinable()) {
    return;
  }
  impl_->ioc.stop();
  impl_->thread.join();
}

}  // namespace portico::proxy
