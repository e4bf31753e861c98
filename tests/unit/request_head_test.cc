// The request head checks, as tables (RFC 9112 2.2, 3, 6, 7; RFC 9110 7.6.1).

#include "proxy/request_head.h"
#include "proxy/policy/policy.h"

#include <gtest/gtest.h>

namespace portico::proxy {
namespace {

TEST(RequestHead, ValidHosts) {
  for (const char* good : {"", "a", "a.test", "A.Test:8080", "[::1]", "[::1]:80", "10.0.0.1:1",
                           "xn--bcher-kva.example", "a_b.test", "a%41.test"}) {
    EXPECT_TRUE(isValidHost(good)) << good;
  }
  for (const char* bad : {"a, b", "a/b@c d", "a b", "user@a", "a:b", "a:123456", "[::1", "[zz]",
                          "::1", "a.test:80:80", "a%4", "\x01", "a\tb", ":80", "[::1]x"}) {
    EXPECT_FALSE(isValidHost(bad)) << bad;
  }
}

TEST(RequestHead, NormalizedPaths) {
  struct Row {
    const char* in;
    const char* out;  // nullptr: above the root
  };
  const Row rows[] = {
      {"/", "/"},
      {"/a/b", "/a/b"},
      {"//a///b//", "/a/b/"},
      {"/a/./b", "/a/b"},
      {"/a/.", "/a/"},
      {"/a/b/..", "/a/"},
      {"/a/../b", "/b"},
      {"/a/%2e%2E/b", "/b"},
      {"/a/%2e", "/a/"},
      {"/a%2eb", "/a.b"},
      {"/.well-known/x", "/.well-known/x"},
      {"/a/..b/c", "/a/..b/c"},
      {"/a%2fb/../c", "/c"},
      {"/..", nullptr},
      {"/../a", nullptr},
      {"/a/../..", nullptr},
      {"/%2e%2e", nullptr},
  };
  for (const Row& r : rows) {
    std::string out;
    bool changed = false;
    const bool ok = normalizePath(r.in, out, &changed);
    if (r.out == nullptr) {
      EXPECT_FALSE(ok) << r.in;
      continue;
    }
    ASSERT_TRUE(ok) << r.in;
    EXPECT_EQ(changed ? out : std::string(r.in), r.out) << r.in;
  }
}

// A parsed head and what checkRequestHead() derived from it (its views point into both).
struct Checked {
  explicit Checked(const std::string& raw) : raw_(raw) {
    parser.headerLimit(64 * 1024);
    boost::system::error_code ec;
    parser.put(raw_, ec);
    EXPECT_FALSE(ec) << raw_ << ": " << ec.message();
    status = checkRequestHead(parser.head(), parser.chunked(), parser.contentLength(), info, buf);
  }
  std::string raw_;
  H1Parser parser{H1Parser::Kind::kRequest};
  RequestInfo info;
  std::string buf;
  unsigned status = 0;
};

unsigned check(const std::string& raw) { return Checked(raw).status; }

TEST(RequestHead, Verdicts) {
  struct Row {
    const char* raw;
    unsigned status;
  };
  const Row rows[] = {
      {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0},
      {"GET / HTTP/1.0\r\n\r\n", 0},
      {"GET / HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400},
      {"GET http://a/x HTTP/1.1\r\nHost: b\r\n\r\n", 0},
      {"GET http://u@a/x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET a/x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0},
      {"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 405},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 0},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n", 400},
      {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nConnection: a, b, c\r\n\r\n", 0},
      {"GET / HTTP/1.1\r\nHost: a\r\nConnection: 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16\r\n\r\n",
       0},
      {"GET / HTTP/1.1\r\nHost: a\r\nConnection: 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17\r\n\r\n",
       400},
      {"GET /../x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET /x#y HTTP/1.1\r\nHost: a\r\n\r\n", 400},
  };
  for (const Row& r : rows) {
    EXPECT_EQ(check(r.raw), r.status) << r.raw;
  }
}

TEST(RequestHead, WhatIsDerived) {
  const Checked absolute("GET HTTP://B.test/x?q HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  ASSERT_EQ(absolute.status, 0u);
  EXPECT_EQ(absolute.info.host, "B.test");
  EXPECT_TRUE(absolute.info.absolute_form);
  EXPECT_EQ(absolute.info.origin_target, "/x?q");
  EXPECT_EQ(absolute.info.path, "/x");
  EXPECT_FALSE(absolute.info.keep_alive);
  const Checked old(
      "GET /a//b/../c HTTP/1.0\r\nConnection: keep-alive\r\nExpect: 100-continue\r\n\r\n");
  ASSERT_EQ(old.status, 0u);
  EXPECT_EQ(old.info.path, "/a/c");
  EXPECT_EQ(old.info.origin_target, "/a//b/../c");  // what the upstream gets
  EXPECT_TRUE(old.info.keep_alive);
  EXPECT_FALSE(old.info.expect_continue);  // never for HTTP/1.0
  const Checked ws("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: ws\r\n\r\n");
  ASSERT_EQ(ws.status, 0u);
  EXPECT_TRUE(ws.info.upgrade);
}

TEST(Policies, BodyLimitReplacesTheControllerLimitAndAnswersOversizedLengths) {
  snapshot::Route route;
  route.policies = {snapshot::BodyLimit{100}};
  RequestInfo info;
  info.content_length = 50;
  policy::RequestContext ok{info, 10, {}, {}};
  EXPECT_EQ(policy::runRequestPolicies(route, ok), policy::Verdict::kContinue);
  EXPECT_EQ(ok.body_limit, 100u);  // raised above the controller's 10 for this route
  info.content_length = 101;
  policy::RequestContext over{info, 0, {}, {}};
  EXPECT_EQ(policy::runRequestPolicies(route, over), policy::Verdict::kRespond);
  EXPECT_EQ(over.response.status, 413u);
  route.policies = {snapshot::BodyLimit{0}};
  policy::RequestContext lifted{info, 10, {}, {}};
  EXPECT_EQ(policy::runRequestPolicies(route, lifted), policy::Verdict::kContinue);
  EXPECT_EQ(lifted.body_limit, 0u);
}

}  // namespace
}  // namespace portico::proxy
