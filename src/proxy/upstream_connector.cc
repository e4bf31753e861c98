#include "proxy/upstream_connector.h"

#include "tls/certificate.h"

#include <boost/asio/ssl/context.hpp>

namespace portico::proxy {

namespace {

// Why a TLS connection to a backend was not even tried.
enum class UpstreamTlsError { kNoContext = 1, kServerName };

class UpstreamTlsCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "portico.upstream_tls"; }
  std::string message(int ev) const override {
    switch (static_cast<UpstreamTlsError>(ev)) {
      case UpstreamTlsError::kNoContext:
        return "the backend's CA Secret cannot be used (see the Ingress or Service diagnostics)";
      case UpstreamTlsError::kServerName:
        return "OpenSSL refused the backend TLS server name";
    }
    return "upstream TLS error";
  }
};

error_code make(UpstreamTlsError e) {
  static const UpstreamTlsCategory category;
  return {static_cast<int>(e), category};
}

}  // namespace

void UpstreamStream::startTls(ssl_ctx_st* ctx) {
  SSL_CTX_up_ref(ctx);  // net::ssl::context frees what it is given; the SSL keeps its own ref
  net::ssl::context wrapper(ctx);
  tls_.emplace(tcp_, wrapper);
}

UpstreamConnPtr PooledConnector::connect(const runtime::EndpointState& endpoint,
                                         const runtime::UpstreamTls* tls,
                                         std::chrono::milliseconds timeout,
                                         std::function<void(error_code)> done) {
  auto conn = std::make_shared<UpstreamConn>(deadlines_);
  conn->pool_id = endpoint.pool_id;
  error_code ec;
  const auto address = net::ip::make_address(endpoint.endpoint.address, ec);
  if (!ec && tls != nullptr && tls->ctx == nullptr) {
    ec = make(UpstreamTlsError::kNoContext);
  }
  if (ec) {
    net::post(deadlines_.context(), [done = std::move(done), ec] { done(ec); });
    return conn;
  }
  // One deadline for the TCP connect and the handshake: the connect timeout.
  conn->stream.expires_after(timeout);
  conn->stream.next_layer().async_connect(
      tcp::endpoint(address, endpoint.endpoint.port),
      [conn, tls = tls != nullptr ? std::make_optional(*tls) : std::nullopt,
       done = std::move(done)](error_code cec) mutable {
        if (cec) {
          done(cec);
          return;
        }
        error_code ignored;
        conn->stream.socket().set_option(tcp::no_delay(true), ignored);
        if (!tls) {
          done(cec);
          return;
        }
        conn->stream.startTls(tls->ctx.get());
        conn->tls_ctx = tls->ctx.get();
        if (!tls::prepareClient(conn->stream.sslHandle(), tls->server_name, tls->verify)) {
          done(make(UpstreamTlsError::kServerName));
          return;
        }
        UpstreamConn* raw = conn.get();
        raw->stream.async_handshake(
            [conn = std::move(conn), done = std::move(done)](error_code hec) { done(hec); });
      });
  return conn;
}

}  // namespace portico::proxy
