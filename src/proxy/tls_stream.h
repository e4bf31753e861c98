#pragma once
// Internal to src/proxy: the HTTPS listener's stream and the context its connections start
// with. Include only where TLS connections are made or instantiated (it brings Asio's and
// Beast's SSL headers).
//
// Certificates are chosen per connection in OpenSSL's client hello callback, from the SNI name
// and the worker's published config (PublishedConfig::sni): a renewed Secret is served to the
// next handshake, and a connection keeps the context it started with (it holds a reference).
// Clients without SNI get the table's default. Thread: the worker's.

#include "proxy/deadline_stream.h"
#include "proxy/net.h"
#include "tls/certificate.h"

#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>

#include <memory>
#include <string_view>

namespace portico::proxy {

struct Worker;

using TlsStream = beast::ssl_stream<DeadlineStream>;

// The context every TLS connection of the server is created with: `default_ctx` (which it
// shares, and serves when nothing else applies) with the client hello callback installed.
std::unique_ptr<net::ssl::context> makeFrontContext(const tls::SslCtxPtr& default_ctx);

// Tells the client hello callback which worker a new connection belongs to.
void attachWorker(TlsStream& stream, Worker& worker);

// The host_name of a server_name extension's body (RFC 6066 3), or empty when there is none or
// it is malformed.
std::string_view parseServerName(const unsigned char* ext, std::size_t len);

// Why a handshake failed, as an index into WorkerStats::kTlsHandshakeErrorReasons (the label of
// portico_tls_handshake_errors_total): "timeout", "not_tls" (the first bytes were not a TLS
// record: plain HTTP or garbage), "protocol" (no version or cipher both sides accept),
// "client_closed", or "other".
std::size_t handshakeErrorReason(error_code ec);

}  // namespace portico::proxy
