#include "proxy/upstream_pool.h"

#include "http_client.h"

#include <gtest/gtest.h>

#include <poll.h>

namespace portico::proxy {
namespace {

using namespace std::chrono_literals;

class UpstreamPoolTest : public ::testing::Test {
 protected:
  UpstreamPoolTest() : acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {}

  // A connected pair: the pool's side and the "upstream" side.
  std::unique_ptr<UpstreamConn> connect(tcp::socket* peer) {
    auto conn = std::make_unique<UpstreamConn>(ioc_);
    conn->stream.socket().connect(acceptor_.local_endpoint());
    *peer = acceptor_.accept();
    conn->key = endpointKey("127.0.0.1", acceptor_.local_endpoint().port());
    return conn;
  }

  net::io_context ioc_;
  tcp::acceptor acceptor_;
};

TEST_F(UpstreamPoolTest, ReusesIdleConnectionsLastInFirstOut) {
  UpstreamPool pool(ioc_, 8, 60s, 0ms);
  tcp::socket p1(ioc_), p2(ioc_);
  auto a = connect(&p1);
  auto b = connect(&p2);
  const std::string key = a->key;
  auto* b_raw = b.get();
  pool.put(std::move(a));
  pool.put(std::move(b));
  EXPECT_EQ(pool.idleCount(), 2u);
  auto got = pool.take(key);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got.get(), b_raw);
  EXPECT_TRUE(got->reused);
  EXPECT_NE(pool.take(key), nullptr);
  EXPECT_EQ(pool.take(key), nullptr);
  EXPECT_EQ(pool.take("other|1"), nullptr);
}

TEST_F(UpstreamPoolTest, ConnectionsThePeerClosedAreDropped) {
  UpstreamPool pool(ioc_, 8, 60s, 0ms);
  tcp::socket peer(ioc_);
  auto a = connect(&peer);
  const std::string key = a->key;
  pollfd ready{a->stream.socket().native_handle(), POLLIN, 0};
  pool.put(std::move(a));
  peer.close();
  // Wait (with a deadline) until the FIN has arrived; then the pool must not hand it out.
  ASSERT_EQ(::poll(&ready, 1, 5000), 1);
  EXPECT_EQ(pool.take(key), nullptr);
  EXPECT_EQ(pool.idleCount(), 0u);
}

TEST_F(UpstreamPoolTest, LimitsPerEndpointAndRetain) {
  UpstreamPool pool(ioc_, 1, 60s, 0ms);
  tcp::socket p1(ioc_), p2(ioc_);
  auto a = connect(&p1);
  auto b = connect(&p2);
  const std::string key = a->key;
  pool.put(std::move(a));
  pool.put(std::move(b));  // over the limit: closed
  EXPECT_EQ(pool.idleCount(), 1u);
  pool.retain({key});
  EXPECT_EQ(pool.idleCount(), 1u);
  pool.retain({});
  EXPECT_EQ(pool.idleCount(), 0u);
}

}  // namespace
}  // namespace portico::proxy
