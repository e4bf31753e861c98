#include "proxy/upstream_connector.h"

namespace portico::proxy {

UpstreamConnPtr PooledConnector::connect(const runtime::EndpointState& endpoint,
                                         std::chrono::milliseconds timeout,
                                         std::function<void(error_code)> done) {
  auto conn = std::make_shared<UpstreamConn>(deadlines_);
  conn->pool_id = endpoint.pool_id;
  error_code ec;
  const auto address = net::ip::make_address(endpoint.endpoint.address, ec);
  if (ec) {
    net::post(deadlines_.context(), [done = std::move(done), ec] { done(ec); });
    return conn;
  }
  conn->stream.expires_after(timeout);
  conn->stream.async_connect(
      tcp::endpoint(address, endpoint.endpoint.port),
      [conn, done = std::move(done)](error_code cec) {
        if (!cec) {
          error_code ignored;
          beast::get_lowest_layer(conn->stream).socket().set_option(tcp::no_delay(true), ignored);
        }
        done(cec);
      });
  return conn;
}

}  // namespace portico::proxy
