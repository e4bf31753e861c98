// H1Parser: heads and bodies as tables, each fed whole and one byte at a time (the two must
// agree: a message's meaning never depends on how the network cut it).

#include "proxy/h1_parser.h"

#include <gtest/gtest.h>
#include <boost/beast/http/error.hpp>

#include <string>
#include <vector>

namespace portico::proxy {
namespace {

namespace http = boost::beast::http;
using error_code = boost::system::error_code;

// Feeds `raw` to `p` in pieces of `step` bytes (0: whole), as a connection does: unconsumed
// bytes stay buffered and are passed again with the next ones. Collects the body, and stops at
// the end of the message or at the first error.
struct Fed {
  error_code ec;
  std::string body;
  std::size_t left = 0;  // bytes after the message
};

Fed feed(H1Parser& p, const std::string& raw, std::size_t step, bool eof = false) {
  Fed out;
  std::string buffered;
  std::size_t next = 0;
  char chunk[7];  // a small body buffer, so that need_buffer happens too
  while (true) {
    if (p.headDone()) {
      p.body().data = chunk;
      p.body().size = sizeof(chunk);
    }
    error_code ec;
    std::size_t used = 0;
    if (!buffered.empty()) {
      used = p.put(buffered, ec);
    } else {
      ec = http::error::need_more;
    }
    if (p.headDone() && p.body().data != nullptr) {
      out.body.append(chunk, sizeof(chunk) - p.body().size);
      p.body() = {};
    }
    buffered.erase(0, used);
    if (ec == http::error::need_buffer) {
      ec = {};
    }
    if (ec && ec != http::error::need_more) {
      out.ec = ec;
      return out;
    }
    if (p.done()) {
      out.left = buffered.size() + raw.size() - next;
      return out;
    }
    if (ec == http::error::need_more) {
      if (next == raw.size()) {
        if (eof) {
          p.putEof(out.ec);
          if (!out.ec && !p.done()) {
            out.ec = http::error::partial_message;
          }
        } else {
          out.ec = http::error::need_more;
        }
        return out;
      }
      const std::size_t n = step == 0 ? raw.size() - next : std::min(step, raw.size() - next);
      buffered.append(raw, next, n);
      next += n;
    }
  }
}

struct Parsed {
  Fed fed;
  H1Parser parser{H1Parser::Kind::kRequest};
};

// Parses `raw` whole and byte by byte; expects the same outcome both ways and returns the
// whole-fed parser.
void parseBoth(H1Parser::Kind kind, const std::string& raw, Parsed& whole, bool eof = false,
               std::size_t header_limit = 8192) {
  whole.parser = H1Parser(kind);
  whole.parser.reset();
  whole.parser.headerLimit(header_limit);
  whole.fed = feed(whole.parser, raw, 0, eof);
  H1Parser bytewise(kind);
  bytewise.headerLimit(header_limit);
  const Fed one = feed(bytewise, raw, 1, eof);
  EXPECT_EQ(one.ec, whole.fed.ec) << raw;
  EXPECT_EQ(one.body, whole.fed.body) << raw;
  EXPECT_EQ(one.left, whole.fed.left) << raw;
}

TEST(H1Parser, RequestHead) {
  Parsed r;
  parseBoth(H1Parser::Kind::kRequest,
            "GET /a?b=c HTTP/1.1\r\nHost: a.test\r\nX-Empty:\r\nAccept:  \t text/html \t\r\n"
            "X-Request-Id: abc\r\n\r\n",
            r);
  ASSERT_FALSE(r.fed.ec) << r.fed.ec.message();
  const MessageHead& h = r.parser.head();
  EXPECT_EQ(h.method(), "GET");
  EXPECT_EQ(h.target(), "/a?b=c");
  EXPECT_EQ(h.version(), 11u);
  ASSERT_EQ(h.fields().size(), 4u);
  EXPECT_EQ(h.fields()[0].name, "Host");
  EXPECT_EQ(h.fields()[0].id, FieldId::kHost);
  EXPECT_EQ(h.fields()[1].value, "");
  EXPECT_EQ(h.fields()[2].value, "text/html");  // OWS trimmed, inner whitespace kept
  EXPECT_EQ(h.value(FieldId::kXRequestId), "abc");
  EXPECT_EQ(h.count(FieldId::kHost), 1u);
  EXPECT_TRUE(r.parser.done());  // no body
  EXPECT_FALSE(r.parser.chunked());
  EXPECT_FALSE(r.parser.contentLength());
}

TEST(H1Parser, FieldIdsIgnoreCase) {
  EXPECT_EQ(fieldId("HOST"), FieldId::kHost);
  EXPECT_EQ(fieldId("content-LENGTH"), FieldId::kContentLength);
  EXPECT_EQ(fieldId("Transfer-Encoding"), FieldId::kTransferEncoding);
  EXPECT_EQ(fieldId("x-forwarded-PORT"), FieldId::kXForwardedPort);
  EXPECT_EQ(fieldId("Proxy-Connection"), FieldId::kProxyConnection);
  EXPECT_EQ(fieldId("Hosts"), FieldId::kOther);
  EXPECT_EQ(fieldId("Content-Lengt"), FieldId::kOther);
  EXPECT_EQ(fieldId(""), FieldId::kOther);
}

TEST(H1Parser, Versions) {
  struct Row {
    const char* line;
    unsigned version;
  };
  for (const Row& row :
       {Row{"GET / HTTP/1.0", 10}, Row{"GET / HTTP/1.1", 11}, Row{"GET / HTTP/1.2", 12},
        Row{"PRI * HTTP/2.0", 20}, Row{"GET / HTTP/0.9", 9}}) {
    Parsed r;
    parseBoth(H1Parser::Kind::kRequest, std::string(row.line) + "\r\nHost: a\r\n\r\n", r);
    ASSERT_FALSE(r.fed.ec) << row.line;
    EXPECT_EQ(r.parser.head().version(), row.version) << row.line;  // checkRequestHead decides
  }
}

// Every kind of malformed head: each gives its error, however the bytes arrive.
TEST(H1Parser, MalformedHeads) {
  struct Row {
    const char* raw;
    http::error error;
  };
  const Row rows[] = {
      {"GET / HTTP/1.1\nHost: a\r\n\r\n", http::error::bad_line_ending},
      {"GET / HTTP/1.1\r\nHost: a\n\r\n", http::error::bad_line_ending},
      {"GET / HTTP/1.1\r\nHost: a\r\n\n", http::error::bad_line_ending},
      {"\r\n\r\n", http::error::bad_method},
      {"GET  / HTTP/1.1\r\n\r\n", http::error::bad_target},
      {" GET / HTTP/1.1\r\n\r\n", http::error::bad_method},
      {"G(T / HTTP/1.1\r\n\r\n", http::error::bad_method},
      {"GET / HTTP/1.1 \r\n\r\n", http::error::bad_version},
      {"GET /\r\n\r\n", http::error::bad_target},
      {"GET / \r\n\r\n", http::error::bad_version},
      {"GET / HTTP/11\r\n\r\n", http::error::bad_version},
      {"GET / http/1.1\r\n\r\n", http::error::bad_version},
      {"GET /a\x01 HTTP/1.1\r\n\r\n", http::error::bad_target},
      {"GET /a\x7f HTTP/1.1\r\n\r\n", http::error::bad_target},
      {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", http::error::bad_field},
      {"GET / HTTP/1.1\r\n: a\r\n\r\n", http::error::bad_field},
      {"GET / HTTP/1.1\r\nHost a\r\n\r\n", http::error::bad_field},
      {"GET / HTTP/1.1\r\nHo\"st: a\r\n\r\n", http::error::bad_field},
      {"GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", http::error::bad_obs_fold},
      {"GET / HTTP/1.1\r\nHost: a\r\n\tb\r\n\r\n", http::error::bad_obs_fold},
      {"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", http::error::bad_value},
      {"GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", http::error::bad_value},
      {"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
       http::error::bad_content_length},
      {"GET / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n", http::error::bad_content_length},
      {"GET / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", http::error::bad_content_length},
      {"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", http::error::bad_content_length},
      {"GET / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", http::error::bad_content_length},
      {"GET / HTTP/1.1\r\nContent-Length:\r\n\r\n", http::error::bad_content_length},
      {"GET / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n",
       http::error::bad_content_length},
  };
  for (const Row& row : rows) {
    const std::string raw(row.raw);
    Parsed r;
    parseBoth(H1Parser::Kind::kRequest, raw, r);
    EXPECT_EQ(r.fed.ec, row.error) << raw << ": " << r.fed.ec.message();
  }
  // A NUL inside a value (a C string cannot hold one).
  Parsed r;
  static constexpr char kNul[] = "GET / HTTP/1.1\r\nX: a\0z\r\n\r\n";
  parseBoth(H1Parser::Kind::kRequest, std::string(kNul, sizeof(kNul) - 1), r);
  EXPECT_EQ(r.fed.ec, http::error::bad_value);
}

TEST(H1Parser, HeaderLimit) {
  const std::string fields = "GET / HTTP/1.1\r\nX: " + std::string(200, 'a') + "\r\n\r\n";
  Parsed r;
  parseBoth(H1Parser::Kind::kRequest, fields, r, false, 100);
  EXPECT_EQ(r.fed.ec, http::error::header_limit);
  EXPECT_TRUE(r.parser.firstLineDone());  // 431, not 414

  const std::string target = "GET /" + std::string(200, 'a') + " HTTP/1.1\r\n\r\n";
  parseBoth(H1Parser::Kind::kRequest, target, r, false, 100);
  EXPECT_EQ(r.fed.ec, http::error::header_limit);
  EXPECT_FALSE(r.parser.firstLineDone());  // 414

  // A head of exactly the limit passes; one byte more does not.
  const std::string exact = "GET / HTTP/1.1\r\nX: ab\r\n\r\n";
  parseBoth(H1Parser::Kind::kRequest, exact, r, false, exact.size());
  EXPECT_FALSE(r.fed.ec);
  parseBoth(H1Parser::Kind::kRequest, exact, r, false, exact.size() - 1);
  EXPECT_EQ(r.fed.ec, http::error::header_limit);

  // A head that never ends is refused once the limit is buffered, not later.
  H1Parser p(H1Parser::Kind::kRequest);
  p.headerLimit(64);
  error_code ec;
  EXPECT_EQ(p.put(std::string(63, 'G'), ec), 0u);
  EXPECT_EQ(ec, http::error::need_more);
  p.put(std::string(64, 'G'), ec);
  EXPECT_EQ(ec, http::error::header_limit);
}

TEST(H1Parser, ContentLengthBody) {
  Parsed r;
  parseBoth(H1Parser::Kind::kRequest,
            "POST / HTTP/1.1\r\nContent-Length: 20\r\n\r\n0123456789abcdefghijGET", r);
  ASSERT_FALSE(r.fed.ec) << r.fed.ec.message();
  EXPECT_EQ(r.fed.body, "0123456789abcdefghij");
  EXPECT_EQ(r.fed.left, 3u);  // the next request stays buffered
  EXPECT_EQ(r.parser.contentLength(), 20u);

  parseBoth(H1Parser::Kind::kRequest, "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", r);
  EXPECT_FALSE(r.fed.ec);
  EXPECT_TRUE(r.parser.done());

  // Cut short: partial_message at the end of the stream.
  parseBoth(H1Parser::Kind::kRequest, "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", r, true);
  EXPECT_EQ(r.fed.ec, http::error::partial_message);
}

TEST(H1Parser, ChunkedBody) {
  Parsed r;
  parseBoth(H1Parser::Kind::kRequest,
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            "5\r\nhello\r\n"
            "0A;name=value;x\r\n world, hi\r\n"
            "1 ; a=\"b c\"\r\n!\r\n"
            "0\r\nX-Trailer: t\r\n\r\nNEXT",
            r);
  ASSERT_FALSE(r.fed.ec) << r.fed.ec.message();
  EXPECT_EQ(r.fed.body, "hello world, hi!");
  EXPECT_EQ(r.fed.left, 4u);
  EXPECT_TRUE(r.parser.chunked());
  EXPECT_FALSE(r.parser.contentLength());

  // "chunked" decides only when it is the last coding; the request check refuses the rest.
  parseBoth(H1Parser::Kind::kRequest, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            r);
  EXPECT_FALSE(r.fed.ec);
  EXPECT_FALSE(r.parser.chunked());
  EXPECT_TRUE(r.parser.done());
  parseBoth(H1Parser::Kind::kRequest,
            "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: Chunked\r\n\r\n"
            "0\r\n\r\n",
            r);
  EXPECT_FALSE(r.fed.ec);
  EXPECT_TRUE(r.parser.chunked());
}

TEST(H1Parser, MalformedChunks) {
  struct Row {
    const char* chunks;
    http::error error;
  };
  const Row rows[] = {
      {"x\r\n", http::error::bad_chunk},
      {"\r\n", http::error::bad_chunk},
      {"5\nhello\r\n0\r\n\r\n", http::error::bad_chunk},
      {"5\r\nhelloXY0\r\n\r\n", http::error::bad_chunk},
      {"5\r\nhello\n0\r\n\r\n", http::error::bad_chunk},
      {"-5\r\n", http::error::bad_chunk},
      {"0x5\r\n", http::error::bad_chunk_extension},
      {"5 x\r\n", http::error::bad_chunk_extension},
      {"5;a\x01\r\n", http::error::bad_chunk_extension},
      {"10000000000000000\r\n", http::error::bad_chunk},  // 17 digits
      {"0\r\nbad trailer\r\n\r\n", http::error::bad_field},
      {"0\r\nX: a\r\n b\r\n\r\n", http::error::bad_field},
      {"0\r\nX: a\n\r\n", http::error::bad_line_ending},
  };
  for (const Row& row : rows) {
    const std::string raw =
        std::string("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n") + row.chunks;
    Parsed r;
    parseBoth(H1Parser::Kind::kRequest, raw, r);
    EXPECT_EQ(r.fed.ec, row.error) << row.chunks << ": " << r.fed.ec.message();
  }
  // A chunk line that never ends is refused at 4 KiB, not buffered on.
  Parsed r;
  parseBoth(H1Parser::Kind::kRequest,
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;" + std::string(5000, 'a'), r);
  EXPECT_EQ(r.fed.ec, http::error::bad_chunk);
  // Trailers are bounded by the header limit.
  parseBoth(H1Parser::Kind::kRequest,
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " +
                std::string(9000, 'a') + "\r\n\r\n",
            r);
  EXPECT_EQ(r.fed.ec, http::error::header_limit);
}

// Body bytes decoded before an error are handed over first; the error comes with the next
// step, from the same bytes, so nothing decoded is lost and nothing bad is consumed.
TEST(H1Parser, AnErrorFollowsTheBytesDecodedBeforeIt) {
  H1Parser p(H1Parser::Kind::kResponse);
  error_code ec;
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  ASSERT_EQ(p.put(head, ec), head.size());
  char buf[64];
  p.body() = {buf, sizeof(buf)};
  const std::string body = "5\r\nhello\r\nzz\r\n";
  const std::size_t used = p.put(body, ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(std::string(buf, sizeof(buf) - p.body().size), "hello");
  EXPECT_EQ(body.substr(used), "zz\r\n");
  p.body() = {buf, sizeof(buf)};
  EXPECT_EQ(p.put(body.substr(used), ec), 0u);
  EXPECT_EQ(ec, http::error::bad_chunk);
  EXPECT_EQ(p.body().size, sizeof(buf));
}

TEST(H1Parser, BodyLimit) {
  H1Parser p(H1Parser::Kind::kRequest);
  p.bodyLimit(10);
  Fed f = feed(p, "POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 0);
  EXPECT_EQ(f.ec, http::error::body_limit);

  p.reset();
  p.bodyLimit(10);
  f = feed(p, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n5\r\nghijk\r\n",
           0);
  EXPECT_EQ(f.ec, http::error::body_limit);
  EXPECT_EQ(f.body, "abcdef");  // what came before the limit was delivered

  p.reset();
  p.bodyLimit(10);
  f = feed(
      p,
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n4\r\nghij\r\n0\r\n\r\n",
      0);
  EXPECT_FALSE(f.ec);
  EXPECT_EQ(f.body, "abcdefghij");

  // A huge chunk size against the limit does not overflow.
  p.reset();
  p.bodyLimit(10);
  f = feed(p, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n", 0);
  EXPECT_EQ(f.ec, http::error::body_limit);
}

TEST(H1Parser, ResponseHeads) {
  struct Row {
    const char* raw;
    unsigned status;
    const char* reason;
    bool keep_alive;
    bool done_at_head;
  };
  const Row rows[] = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 200, "OK", true, true},
      {"HTTP/1.1 204 No Content\r\n\r\n", 204, "No Content", true, true},
      {"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", 304, "Not Modified", true, true},
      {"HTTP/1.1 100 Continue\r\n\r\n", 100, "Continue", true, true},
      {"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 200, "", true, true},
      {"HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", 200, "", true, true},
      {"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 200, "OK", false, true},
      {"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 200, "OK", false, true},
      {"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", 200, "OK", true,
       true},
      {"HTTP/1.1 200 OK\r\n\r\n", 200, "OK", false, false},  // to the end of the stream
  };
  for (const Row& row : rows) {
    H1Parser p(H1Parser::Kind::kResponse);
    error_code ec;
    const std::string raw = row.raw;
    EXPECT_EQ(p.put(raw, ec), raw.size()) << raw;
    ASSERT_FALSE(ec) << raw << ": " << ec.message();
    EXPECT_EQ(p.head().status(), row.status) << raw;
    EXPECT_EQ(p.head().reason(), row.reason) << raw;
    EXPECT_EQ(p.keepAlive(), row.keep_alive) << raw;
    EXPECT_EQ(p.done(), row.done_at_head) << raw;
  }
  // The answer to HEAD has no body, whatever it announces.
  H1Parser p(H1Parser::Kind::kResponse);
  p.skipBody(true);
  error_code ec;
  p.put("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", ec);
  EXPECT_TRUE(p.done());
  EXPECT_TRUE(p.keepAlive());
}

TEST(H1Parser, ResponseBodies) {
  Parsed r;
  parseBoth(H1Parser::Kind::kResponse, "HTTP/1.1 200 OK\r\n\r\nuntil the end", r, true);
  ASSERT_FALSE(r.fed.ec) << r.fed.ec.message();
  EXPECT_EQ(r.fed.body, "until the end");
  EXPECT_FALSE(r.parser.keepAlive());

  // A coding other than chunked: to the end of the stream (responseHeadProblem refuses it).
  parseBoth(H1Parser::Kind::kResponse, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz", r,
            true);
  EXPECT_FALSE(r.fed.ec);
  EXPECT_EQ(r.fed.body, "zz");

  parseBoth(H1Parser::Kind::kResponse,
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", r);
  EXPECT_FALSE(r.fed.ec);
  EXPECT_EQ(r.fed.body, "abc");
  EXPECT_TRUE(r.parser.keepAlive());
}

TEST(H1Parser, MalformedStatusLines) {
  struct Row {
    const char* raw;
    http::error error;
  };
  const Row rows[] = {
      {"HTTP/1.1 20 OK\r\n\r\n", http::error::bad_status},
      {"HTTP/1.1 20\r\n\r\n", http::error::bad_version},
      {"HTTP/1.1 2000 OK\r\n\r\n", http::error::bad_reason},
      {"HTTP/1.1 099 OK\r\n\r\n", http::error::bad_status},
      {"HTTP/1.1 abc OK\r\n\r\n", http::error::bad_status},
      {"HTTP/1.1  200 OK\r\n\r\n", http::error::bad_status},
      {"HTTP/1.1 200 O\x01K\r\n\r\n", http::error::bad_reason},
      {"HTTP/1.1\r\n\r\n", http::error::bad_version},
      {"ICY 200 OK\r\n\r\n", http::error::bad_version},
      {"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", http::error::bad_obs_fold},
  };
  for (const Row& row : rows) {
    H1Parser p(H1Parser::Kind::kResponse);
    error_code ec;
    p.put(row.raw, ec);
    EXPECT_EQ(ec, row.error) << row.raw << ": " << ec.message();
  }
}

// One parser for many messages: reset() forgets the last one and keeps its storage.
TEST(H1Parser, ResetReusesStorage) {
  H1Parser p(H1Parser::Kind::kRequest);
  for (int i = 0; i < 3; ++i) {
    p.reset();
    const std::string raw = "GET /" + std::to_string(i) + " HTTP/1.1\r\nHost: a\r\n\r\n";
    error_code ec;
    EXPECT_EQ(p.put(raw, ec), raw.size());
    EXPECT_FALSE(ec);
    EXPECT_EQ(p.head().target(), "/" + std::to_string(i));
    EXPECT_EQ(p.head().fields().size(), 1u);
  }
  p.reset();
  EXPECT_FALSE(p.gotSome());
  EXPECT_FALSE(p.headDone());
  EXPECT_TRUE(p.head().fields().empty());
  error_code ec;
  p.putEof(ec);
  EXPECT_EQ(ec, http::error::end_of_stream);
  p.put("GET", ec);
  p.putEof(ec);
  EXPECT_EQ(ec, http::error::partial_message);
}

}  // namespace
}  // namespace portico::proxy
