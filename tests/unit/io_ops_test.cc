// The request path's read and write steps (io_ops.h) and the body framer they carry: buffered
// bytes complete a step at once, short writes are finished, and the end of a stream reads as
// Beast's http::async_read_some reports it.
#include "proxy/io_ops.h"
#include "proxy/body_pump.h"
#include "proxy/deadline_stream.h"

#include "run_until.h"

#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <string>

namespace portico::proxy {
namespace {

using namespace std::chrono_literals;

std::string flatten(const Gather& g) {
  std::string out;
  for (const auto& b : g) {
    out.append(static_cast<const char*>(b.data()), b.size());
  }
  return out;
}

TEST(Gather, ConsumeDropsWholeAndPartialBuffers) {
  Gather g;
  g.add(net::buffer("head", 4));
  g.add(net::buffer("", 0));  // empty buffers are not kept
  g.add(net::buffer("body", 4));
  g.add(net::buffer("!", 1));
  EXPECT_EQ(g.count, 3u);
  EXPECT_FALSE(g.consume(0));
  EXPECT_EQ(flatten(g), "headbody!");
  EXPECT_FALSE(g.consume(2));
  EXPECT_EQ(flatten(g), "adbody!");
  EXPECT_FALSE(g.consume(2));  // exactly the first buffer
  EXPECT_EQ(flatten(g), "body!");
  EXPECT_EQ(g.count, 2u);
  EXPECT_FALSE(g.consume(4));
  EXPECT_EQ(flatten(g), "!");
  EXPECT_TRUE(g.consume(1));
  EXPECT_EQ(g.count, 0u);
}

TEST(BodyFramer, RawChunkedAndTheLastChunk) {
  const std::string head = "HEAD\r\n\r\n";
  BodyFramer raw;
  raw.reset(&head, /*chunked=*/false);
  EXPECT_EQ(flatten(raw.frame("abc", 3, false)), head + "abc");
  raw.sent();
  EXPECT_EQ(flatten(raw.frame("de", 2, true)), "de");

  BodyFramer chunked;
  chunked.reset(&head, /*chunked=*/true);
  EXPECT_EQ(flatten(chunked.frame("hello", 5, false)), head + "5\r\nhello\r\n");
  chunked.sent();
  EXPECT_EQ(flatten(chunked.frame(std::string(26, 'x').data(), 26, true)),
            "1a\r\n" + std::string(26, 'x') + "\r\n0\r\n\r\n");
  EXPECT_EQ(flatten(chunked.frame(nullptr, 0, true)), "0\r\n\r\n");
}

class IoOpsTest : public ::testing::Test {
 protected:
  IoOpsTest() : acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    stream_.socket().connect(acceptor_.local_endpoint());
    peer_ = acceptor_.accept();
  }
  bool runUntil(const std::function<bool()>& done) { return testing::runUntil(ioc_, done); }
  // One read step of a response head; the outcome, however it completed.
  struct Step {
    bool synchronous = false;
    std::optional<error_code> ec;
  };
  Step readHead(H1Parser& p) {
    Step s;
    error_code ec;
    if (readStep(stream_, buffer_, p, ec, [&s](error_code e) { s.ec = e; })) {
      s.synchronous = true;
      s.ec = ec;
    }
    return s;
  }

  net::io_context ioc_;
  Deadlines deadlines_{ioc_, 5ms};
  tcp::acceptor acceptor_;
  DeadlineStream stream_{deadlines_};
  tcp::socket peer_{ioc_};
  beast::flat_buffer buffer_;
};

TEST_F(IoOpsTest, BufferedBytesCompleteAStepAtOnce) {
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
  net::write(peer_, net::buffer(response));
  H1Parser p{H1Parser::Kind::kResponse};
  auto head = readHead(p);  // nothing buffered yet: a read
  EXPECT_FALSE(head.synchronous);
  ASSERT_TRUE(runUntil([&] { return head.ec.has_value(); }));
  ASSERT_FALSE(*head.ec) << head.ec->message();
  EXPECT_TRUE(p.headDone());
  EXPECT_EQ(p.head().status(), 200u);

  // The body came in the same read: the next step needs no read at all.
  std::array<char, 64> body{};
  p.body().data = body.data();
  p.body().size = body.size();
  error_code ec;
  const bool sync = readStep(stream_, buffer_, p, ec, [](error_code) { FAIL() << "no read"; });
  EXPECT_TRUE(sync);
  EXPECT_FALSE(ec);
  EXPECT_TRUE(p.done());
  EXPECT_EQ(std::string(body.data(), body.size() - p.body().size), "hello");
}

TEST_F(IoOpsTest, AHeadSplitAcrossReadsIsReadWhole) {
  H1Parser p{H1Parser::Kind::kResponse};
  auto head = readHead(p);
  net::write(peer_, net::buffer(std::string("HTTP/1.1 204 No")));
  ASSERT_TRUE(runUntil([&] { return buffer_.size() > 0 || head.ec.has_value(); }));
  EXPECT_FALSE(head.ec.has_value());  // a partial head: reading on
  net::write(peer_, net::buffer(std::string(" Content\r\nX: y\r\n\r\n")));
  ASSERT_TRUE(runUntil([&] { return head.ec.has_value(); }));
  EXPECT_FALSE(*head.ec);
  EXPECT_EQ(p.head().status(), 204u);
  EXPECT_EQ(p.head().fields().at(0).value, "y");
}

TEST_F(IoOpsTest, TheEndOfTheStreamReadsAsBeastReportsIt) {
  {  // before any byte: end_of_stream
    H1Parser p{H1Parser::Kind::kResponse};
    auto head = readHead(p);
    peer_.shutdown(tcp::socket::shutdown_send);
    ASSERT_TRUE(runUntil([&] { return head.ec.has_value(); }));
    EXPECT_EQ(*head.ec, http::error::end_of_stream);
  }
  peer_.close();
  stream_.socket().close();
  stream_.socket().connect(acceptor_.local_endpoint());
  peer_ = acceptor_.accept();
  buffer_.clear();
  {  // in the middle of a head: partial_message
    H1Parser p{H1Parser::Kind::kResponse};
    auto head = readHead(p);
    net::write(peer_, net::buffer(std::string("HTTP/1.1 200 OK\r\nContent-")));
    peer_.shutdown(tcp::socket::shutdown_send);
    ASSERT_TRUE(runUntil([&] { return head.ec.has_value(); }));
    EXPECT_EQ(*head.ec, http::error::partial_message);
  }
  peer_.close();
  stream_.socket().close();
  stream_.socket().connect(acceptor_.local_endpoint());
  peer_ = acceptor_.accept();
  buffer_.clear();
  {  // a body delimited by the end of the stream: it ends there, whole
    H1Parser p{H1Parser::Kind::kResponse};
    net::write(peer_, net::buffer(std::string("HTTP/1.1 200 OK\r\n\r\nuntil close")));
    auto head = readHead(p);
    ASSERT_TRUE(runUntil([&] { return head.ec.has_value(); }));
    ASSERT_FALSE(*head.ec);
    std::array<char, 64> body{};
    p.body().data = body.data();
    p.body().size = body.size();
    error_code ec;
    ASSERT_TRUE(readStep(stream_, buffer_, p, ec, [](error_code) {}));  // the buffered part
    peer_.shutdown(tcp::socket::shutdown_send);
    std::optional<error_code> end;
    error_code sync_ec;
    ASSERT_FALSE(readStep(stream_, buffer_, p, sync_ec, [&end](error_code e) { end = e; }));
    ASSERT_TRUE(runUntil([&] { return end.has_value(); }));
    EXPECT_FALSE(*end) << end->message();
    EXPECT_TRUE(p.done());
  }
}

TEST_F(IoOpsTest, WriteAllFinishesShortWrites) {
  stream_.socket().set_option(net::socket_base::send_buffer_size(4096));
  const std::string head = "head:";
  const std::string big(512 << 10, 'b');
  Gather g;
  g.add(net::buffer(head));
  g.add(net::buffer(big));
  std::optional<error_code> done;
  std::size_t written = 0;
  writeAll(stream_, g, [&](error_code ec, std::size_t n) {
    done = ec;
    written = n;
  });
  std::string received;
  std::array<char, 65536> chunk{};
  ASSERT_TRUE(runUntil([&] {
    error_code ec;
    if (peer_.available(ec) > 0) {
      received.append(chunk.data(), peer_.read_some(net::buffer(chunk), ec));
    }
    return done.has_value() && received.size() == head.size() + big.size();
  }));
  EXPECT_FALSE(*done);
  EXPECT_EQ(written, head.size() + big.size());
  EXPECT_EQ(received, head + big);
}

}  // namespace
}  // namespace portico::proxy
