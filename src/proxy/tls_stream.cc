#include "proxy/tls_stream.h"

#include "proxy/worker.h"
#include "tls/store.h"
#include "tls/ticket_keys.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace portico::proxy {

namespace {

// Indexes into WorkerStats::kTlsHandshakeErrorReasons.
constexpr std::size_t kTimeout = 0;
constexpr std::size_t kNotTls = 1;
constexpr std::size_t kProtocol = 2;
constexpr std::size_t kClientClosed = 3;
constexpr std::size_t kOther = 4;

int workerIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

int onClientHello(SSL* ssl, int* /*alert*/, void* /*arg*/) {
  auto* w = static_cast<Worker*>(SSL_get_ex_data(ssl, workerIndex()));
  if (w == nullptr || w->published == nullptr || w->published->sni == nullptr) {
    return SSL_CLIENT_HELLO_SUCCESS;  // the front context's certificate: the default
  }
  const unsigned char* ext = nullptr;
  std::size_t len = 0;
  std::string_view name;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &len) == 1) {
    name = parseServerName(ext, len);
  }
  SSL_CTX* ctx = w->published->sni->select(name);
  if (ctx != nullptr && ctx != SSL_get_SSL_CTX(ssl)) {
    SSL_set_SSL_CTX(ssl, ctx);
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

}  // namespace

std::unique_ptr<net::ssl::context> makeFrontContext(const tls::SslCtxPtr& default_ctx) {
  SSL_CTX_up_ref(default_ctx.get());  // net::ssl::context frees what it is given
  auto ctx = std::make_unique<net::ssl::context>(default_ctx.get());
  SSL_CTX_set_client_hello_cb(ctx->native_handle(), onClientHello, nullptr);
  return ctx;
}

void attachWorker(TlsStream& stream, Worker& worker) {
  SSL_set_ex_data(stream.native_handle(), workerIndex(), &worker);
  if (worker.ticket_keys != nullptr) {
    worker.ticket_keys->attach(stream.native_handle());
  }
}

std::string_view parseServerName(const unsigned char* ext, std::size_t len) {
  // ServerNameList: uint16 length, then entries of uint8 type, uint16 length, name.
  if (ext == nullptr || len < 5) {
    return {};
  }
  const std::size_t list = (std::size_t{ext[0]} << 8) | ext[1];
  if (list + 2 != len) {
    return {};
  }
  std::size_t at = 2;
  while (at + 3 <= len) {
    const unsigned type = ext[at];
    const std::size_t n = (std::size_t{ext[at + 1]} << 8) | ext[at + 2];
    at += 3;
    if (at + n > len) {
      return {};
    }
    if (type == 0) {  // host_name
      return std::string_view(reinterpret_cast<const char*>(ext + at), n);
    }
    at += n;
  }
  return {};
}

std::size_t handshakeErrorReason(error_code ec) {
  if (ec == beast::error::timeout) {
    return kTimeout;
  }
  if (ec == net::error::eof || ec == net::error::connection_reset ||
      ec == net::ssl::error::stream_truncated || ec == net::error::broken_pipe) {
    return kClientClosed;
  }
  if (ec.category() == net::error::get_ssl_category()) {
    switch (ERR_GET_REASON(static_cast<unsigned long>(ec.value()))) {
      case SSL_R_WRONG_VERSION_NUMBER:
      case SSL_R_HTTP_REQUEST:
      case SSL_R_HTTPS_PROXY_REQUEST:
      case SSL_R_PACKET_LENGTH_TOO_LONG:
      case SSL_R_RECORD_LENGTH_MISMATCH:
      case SSL_R_UNEXPECTED_MESSAGE:
      case SSL_R_UNEXPECTED_RECORD:
        return kNotTls;
      case SSL_R_UNSUPPORTED_PROTOCOL:
      case SSL_R_NO_SHARED_CIPHER:
      case SSL_R_NO_PROTOCOLS_AVAILABLE:
      case SSL_R_NO_SHARED_GROUPS:
      case SSL_R_VERSION_TOO_LOW:
        return kProtocol;
      default:
        return kOther;
    }
  }
  return kOther;
}

}  // namespace portico::proxy
