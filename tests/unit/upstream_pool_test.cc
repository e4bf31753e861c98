#include "proxy/upstream_pool.h"

#include "common/clock.h"
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
  UpstreamConnPtr connect(tcp::socket* peer, std::uint32_t pool_id = 7) {
    auto conn = std::make_shared<UpstreamConn>(deadlines_);
    conn->stream.socket().connect(acceptor_.local_endpoint());
    *peer = acceptor_.accept();
    conn->pool_id = pool_id;
    return conn;
  }

  net::io_context ioc_;
  Deadlines deadlines_{ioc_, std::chrono::milliseconds(100)};
  ManualClock clock_;
  tcp::acceptor acceptor_;
};

TEST_F(UpstreamPoolTest, ReusesIdleConnectionsLastInFirstOut) {
  UpstreamPool pool(ioc_, clock_, 8, 60s, 0ms);
  tcp::socket p1(ioc_), p2(ioc_);
  auto a = connect(&p1);
  auto b = connect(&p2);
  const std::uint32_t key = a->pool_id;
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
  EXPECT_EQ(pool.take(99), nullptr);
}

TEST_F(UpstreamPoolTest, ConnectionsThePeerClosedAreDropped) {
  UpstreamPool pool(ioc_, clock_, 8, 60s, 0ms);
  tcp::socket peer(ioc_);
  auto a = connect(&peer);
  const std::uint32_t key = a->pool_id;
  pollfd ready{a->stream.socket().native_handle(), POLLIN, 0};
  pool.put(std::move(a));
  peer.close();
  // Wait (with a deadline) until the FIN has arrived; then the pool must not hand it out.
  ASSERT_EQ(::poll(&ready, 1, 5000), 1);
  EXPECT_EQ(pool.take(key), nullptr);
  EXPECT_EQ(pool.idleCount(), 0u);
}

TEST_F(UpstreamPoolTest, LimitsPerEndpointAndRetain) {
  UpstreamPool pool(ioc_, clock_, 1, 60s, 0ms);
  tcp::socket p1(ioc_), p2(ioc_);
  auto a = connect(&p1);
  auto b = connect(&p2);
  const std::uint32_t key = a->pool_id;
  pool.put(std::move(a));
  pool.put(std::move(b));  // over the limit: closed
  EXPECT_EQ(pool.idleCount(), 1u);
  pool.retain({key});
  EXPECT_EQ(pool.idleCount(), 1u);
  pool.retain({});
  EXPECT_EQ(pool.idleCount(), 0u);
}

TEST_F(UpstreamPoolTest, IdleTimeoutAndRecheckFollowTheInjectedClock) {
  UpstreamPool pool(ioc_, clock_, 8, 60s, 250ms);
  tcp::socket p1(ioc_), p2(ioc_), p3(ioc_);
  pool.put(connect(&p1));
  clock_.advance(61s);  // older than the idle timeout: never handed out
  EXPECT_EQ(pool.take(7), nullptr);
  // Closed by its peer but idle for less than recheck_after: handed out without the syscall
  // (a request that meets it is retried when safe).
  auto b = connect(&p2);
  pollfd ready_b{b->stream.socket().native_handle(), POLLIN, 0};
  pool.put(std::move(b));
  p2.close();
  ASSERT_EQ(::poll(&ready_b, 1, 5000), 1);
  EXPECT_NE(pool.take(7), nullptr);
  // The same after recheck_after: the liveness check runs and drops it.
  auto c = connect(&p3);
  pollfd ready_c{c->stream.socket().native_handle(), POLLIN, 0};
  pool.put(std::move(c));
  p3.close();
  ASSERT_EQ(::poll(&ready_c, 1, 5000), 1);
  clock_.advance(1s);
  EXPECT_EQ(pool.take(7), nullptr);
}

}  // namespace
}  // namespace portico::proxy
