// DeadlineStream and the worker's Deadlines: a deadline cancels what is pending with
// beast::error::timeout, moves with its stream, is re-armed earlier when a shorter timeout comes,
// and outlives nothing. Real sockets on one io_context; each test runs the loop until a
// condition holds, with a deadline.
#include "proxy/deadline_stream.h"

#include "run_until.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>

namespace portico::proxy {
namespace {

using namespace std::chrono_literals;

class DeadlineStreamTest : public ::testing::Test {
 protected:
  DeadlineStreamTest() : acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {}

  // A stream connected to a plain peer socket.
  DeadlineStream connected(tcp::socket* peer) {
    DeadlineStream s(deadlines_);
    s.socket().connect(acceptor_.local_endpoint());
    *peer = acceptor_.accept();
    return s;
  }
  bool runUntil(const std::function<bool()>& done) { return testing::runUntil(ioc_, done); }
  struct Read {
    std::optional<error_code> ec;
    std::size_t n = 0;
  };
  void read(DeadlineStream& s, Read& r) {
    s.async_read_some(net::buffer(buf_), [&r](error_code ec, std::size_t n) {
      r.ec = ec;
      r.n = n;
    });
  }

  net::io_context ioc_;
  Deadlines deadlines_{ioc_, 5ms};
  tcp::acceptor acceptor_;
  std::array<char, 64> buf_{};
};

TEST_F(DeadlineStreamTest, APendingReadTimesOut) {
  tcp::socket peer(ioc_);
  auto s = connected(&peer);
  const auto start = std::chrono::steady_clock::now();
  s.expires_after(30ms);
  EXPECT_EQ(deadlines_.armedCount(), 1u);
  Read r;
  read(s, r);
  ASSERT_TRUE(runUntil([&] { return r.ec.has_value(); }));
  EXPECT_EQ(*r.ec, beast::error::timeout);
  // Not before the deadline, give or take the coarse clock's tick.
  EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
  EXPECT_TRUE(s.expired());
  EXPECT_EQ(deadlines_.armedCount(), 0u);
  EXPECT_TRUE(s.socket().is_open());  // cancelled, not closed: a 408 can still be written
}

TEST_F(DeadlineStreamTest, AReadThatCompletesInTimeIsNotCancelled) {
  tcp::socket peer(ioc_);
  auto s = connected(&peer);
  s.expires_after(10s);
  Read r;
  read(s, r);
  net::write(peer, net::buffer("hi", 2));
  ASSERT_TRUE(runUntil([&] { return r.ec.has_value(); }));
  EXPECT_FALSE(*r.ec);
  EXPECT_EQ(r.n, 2u);
}

TEST_F(DeadlineStreamTest, AShorterTimeoutRearmsTheSweepEarlier) {
  tcp::socket peer(ioc_);
  auto s = connected(&peer);
  tcp::socket peer2(ioc_);
  auto other = connected(&peer2);
  other.expires_after(1h);  // the sweep is armed for an hour from now
  s.expires_after(1h);
  s.expires_after(20ms);  // moves to the 20 ms list: the sweep must come sooner
  Read r;
  read(s, r);
  ASSERT_TRUE(runUntil([&] { return r.ec.has_value(); }));
  EXPECT_EQ(*r.ec, beast::error::timeout);
  EXPECT_FALSE(other.expired());
  EXPECT_EQ(deadlines_.armedCount(), 1u);
}

TEST_F(DeadlineStreamTest, ExpiresNeverDisarms) {
  tcp::socket peer(ioc_), clock_peer(ioc_);
  auto s = connected(&peer);
  auto clock = connected(&clock_peer);  // its timeout tells when s's would have passed
  s.expires_after(10ms);
  s.expires_never();
  clock.expires_after(40ms);
  Read r, c;
  read(s, r);
  std::array<char, 8> cbuf{};
  clock.async_read_some(net::buffer(cbuf), [&c](error_code ec, std::size_t) { c.ec = ec; });
  ASSERT_TRUE(runUntil([&] { return c.ec.has_value(); }));
  EXPECT_EQ(*c.ec, beast::error::timeout);
  EXPECT_FALSE(r.ec.has_value());  // still pending, 30 ms after its old deadline
  net::write(peer, net::buffer("x", 1));
  ASSERT_TRUE(runUntil([&] { return r.ec.has_value(); }));
  EXPECT_FALSE(*r.ec);
}

TEST_F(DeadlineStreamTest, AnOperationAfterTheExpiryFailsUntilTheNextDeadline) {
  tcp::socket peer(ioc_);
  auto s = connected(&peer);
  s.expires_after(10ms);
  Read r;
  read(s, r);
  ASSERT_TRUE(runUntil([&] { return r.ec.has_value(); }));
  ASSERT_EQ(*r.ec, beast::error::timeout);
  net::write(peer, net::buffer("late", 4));
  Read again;
  read(s, again);  // no new deadline: timed out at once, data or not
  ASSERT_TRUE(runUntil([&] { return again.ec.has_value(); }));
  EXPECT_EQ(*again.ec, beast::error::timeout);
  s.expires_after(10s);
  Read fresh;
  read(s, fresh);
  ASSERT_TRUE(runUntil([&] { return fresh.ec.has_value(); }));
  EXPECT_FALSE(*fresh.ec);
  EXPECT_EQ(fresh.n, 4u);
}

TEST_F(DeadlineStreamTest, ACancelThatIsNotTheDeadlineStaysAborted) {
  tcp::socket peer(ioc_);
  auto s = connected(&peer);
  s.expires_after(10s);
  Read r;
  read(s, r);
  s.socket().cancel();
  ASSERT_TRUE(runUntil([&] { return r.ec.has_value(); }));
  EXPECT_EQ(*r.ec, net::error::operation_aborted);
}

TEST_F(DeadlineStreamTest, WritesAndConnectsHaveTheDeadlineToo) {
  tcp::socket peer(ioc_);
  auto s = connected(&peer);
  // Fill the peer's receive window: the write blocks until the deadline.
  s.socket().set_option(net::socket_base::send_buffer_size(4096));
  std::vector<char> big(16 << 20, 'x');
  std::optional<error_code> wec;
  s.expires_after(30ms);
  net::async_write(s, net::buffer(big), [&](error_code ec, std::size_t) { wec = ec; });
  ASSERT_TRUE(runUntil([&] { return wec.has_value(); }));
  EXPECT_EQ(*wec, beast::error::timeout);

  DeadlineStream c(deadlines_);
  std::optional<error_code> cec;
  c.expires_after(10s);
  c.async_connect(acceptor_.local_endpoint(), [&](error_code ec) { cec = ec; });
  ASSERT_TRUE(runUntil([&] { return cec.has_value(); }));
  EXPECT_FALSE(*cec);
}

TEST_F(DeadlineStreamTest, AMovedStreamKeepsItsDeadline) {
  tcp::socket peer(ioc_);
  auto first = connected(&peer);
  first.expires_after(20ms);
  auto moved = std::make_unique<DeadlineStream>(std::move(first));
  EXPECT_EQ(deadlines_.armedCount(), 1u);
  Read r;
  read(*moved, r);
  ASSERT_TRUE(runUntil([&] { return r.ec.has_value(); }));
  EXPECT_EQ(*r.ec, beast::error::timeout);
  moved.reset();
  EXPECT_EQ(deadlines_.armedCount(), 0u);
}

TEST_F(DeadlineStreamTest, ManyStreamsExpireInDeadlineOrder) {
  std::vector<std::unique_ptr<tcp::socket>> peers;
  std::vector<std::unique_ptr<DeadlineStream>> streams;
  std::vector<int> order;
  for (int i = 0; i < 50; ++i) {
    peers.push_back(std::make_unique<tcp::socket>(ioc_));
    streams.push_back(std::make_unique<DeadlineStream>(connected(peers.back().get())));
  }
  // Two timeouts, interleaved: the 10 ms ones all go before any 200 ms one.
  for (int i = 0; i < 50; ++i) {
    streams[i]->expires_after(i % 2 == 0 ? 10ms : 200ms);
    streams[i]->async_read_some(net::buffer(buf_), [&order, i](error_code ec, std::size_t) {
      if (ec == beast::error::timeout) {
        order.push_back(i);
      }
    });
  }
  ASSERT_TRUE(runUntil([&] { return order.size() == 50; }));
  for (std::size_t k = 0; k < 25; ++k) {
    EXPECT_EQ(order[k] % 2, 0) << "position " << k;
  }
}

TEST(Deadlines, DestroyedBeforeItsStreamsDetachesThem) {
  net::io_context ioc;
  auto deadlines = std::make_unique<Deadlines>(ioc, 10ms);
  DeadlineStream a(*deadlines), b(*deadlines);
  a.expires_after(1s);
  b.expires_after(2s);
  deadlines.reset();   // as a worker's, before the handlers that hold its streams
  a.expires_after(1s);  // nothing enforces it any more; nothing breaks either
  EXPECT_FALSE(a.expired());
}

}  // namespace
}  // namespace portico::proxy
