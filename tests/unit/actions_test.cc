// The proxy side of the route actions (src/proxy/actions.h): redirect Locations from their
// templates, the stickiness cookie read and written, and ring_hash keys.

#include "proxy/actions.h"

#include "runtime/published_config.h"

#include <gtest/gtest.h>

namespace portico::proxy {
namespace {

const MessageHead& parse(H1Parser& parser, const std::string& raw) {
  boost::system::error_code ec;
  parser.put(raw, ec);
  EXPECT_FALSE(ec) << ec.message();
  return parser.head();
}

TEST(RedirectAction, TemplatesAreFilledFromTheRequest) {
  struct Case {
    snapshot::Redirect redirect;
    std::string host;
    std::string target;
    bool tls;
    std::string location;
  };
  const auto r = [](std::string protocol, std::string host, std::string port, std::string path,
                    std::string query) {
    snapshot::Redirect x;
    x.protocol = std::move(protocol);
    x.host = std::move(host);
    x.port = std::move(port);
    x.path = std::move(path);
    x.query = std::move(query);
    return x;
  };
  const Case cases[] = {
      // To HTTPS, everything else kept: the default port of https is left out.
      {r("https", "#{host}", "443", "/#{path}", "#{query}"), "A.test", "/x/y?q=1", false,
       "https://a.test/x/y?q=1"},
      // The client's own port is kept when it is not the new protocol's default.
      {r("#{protocol}", "new.test", "#{port}", "/#{path}", "#{query}"), "a.test:8080", "/p", false,
       "http://new.test:8080/p"},
      {r("#{protocol}", "new.test", "#{port}", "/#{path}", "#{query}"), "a.test", "/p", true,
       "https://new.test/p"},
      // A new path and query; an empty query leaves no '?'.
      {r("https", "#{host}", "#{port}", "/v2/#{path}", "src=#{host}&#{query}"), "a.test",
       "/old?a=b", true, "https://a.test/v2/old?src=a.test&a=b"},
      {r("http", "#{host}", "8000", "/fixed", "#{query}"), "a.test", "/old", false,
       "http://a.test:8000/fixed"},
      // An IPv6 literal keeps its brackets; what is not a placeholder stays as written.
      {r("https", "#{host}", "#{port}", "/#{x}/#{path}", "#{query}"), "[::1]:8443", "/", true,
       "https://[::1]:8443/#{x}/"},
  };
  for (const auto& c : cases) {
    RequestInfo info;
    info.host = c.host;
    info.origin_target = c.target;
    std::string out;
    redirectLocation(c.redirect, info, c.tls, out);
    EXPECT_EQ(out, c.location) << c.host << c.target;
  }
}

TEST(Stickiness, CookieRoundTripAndForgedValues) {
  std::string cookie;
  stickyCookie("portico-tg", 0x0123456789abcdefULL, 600, cookie);
  EXPECT_EQ(cookie, "portico-tg=0123456789abcdef; Max-Age=600; Path=/; HttpOnly");
  EXPECT_EQ(stickyKeyFrom("0123456789abcdef"), 0x0123456789abcdefULL);
  for (const char* bad : {"", "0123", "0123456789abcdeg", "0123456789abcdef0", "+123456789abcdef",
                          "-123456789abcdef"}) {
    EXPECT_EQ(stickyKeyFrom(bad), 0u) << bad;
  }
  H1Parser parser{H1Parser::Kind::kRequest};
  const auto& head =
      parse(parser,
            "GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1; portico-tg=\"00000000000000ff\""
            "\r\ncookie: b=2\r\n\r\n");
  EXPECT_EQ(cookieValue(head, "portico-tg"), "00000000000000ff");  // quotes removed
  EXPECT_EQ(cookieValue(head, "b"), "2");                          // any Cookie field
  EXPECT_EQ(cookieValue(head, "portico"), "");                     // whole names only
  EXPECT_EQ(cookieValue(head, "c"), "");
}

TEST(RingHashKey, FromAHeaderACookieOrTheSource) {
  H1Parser parser{H1Parser::Kind::kRequest};
  const auto& head =
      parse(parser, "GET / HTTP/1.1\r\nHost: a\r\nX-User: alice\r\nCookie: sid=42\r\n\r\n");
  snapshot::HashOn on;
  on.kind = snapshot::HashOn::Kind::kHeader;
  on.name = "x-user";
  EXPECT_EQ(ringHashKey(on, head, nullptr), runtime::hashKey("alice"));
  on.name = "x-none";
  EXPECT_EQ(ringHashKey(on, head, nullptr), 0u);  // none: the request is spread
  on.kind = snapshot::HashOn::Kind::kCookie;
  on.name = "sid";
  EXPECT_EQ(ringHashKey(on, head, nullptr), runtime::hashKey("42"));
  on.kind = snapshot::HashOn::Kind::kSourceIp;
  std::array<std::uint8_t, 16> a{};
  a[15] = 1;
  std::array<std::uint8_t, 16> b{};
  b[15] = 2;
  EXPECT_NE(ringHashKey(on, head, &a), ringHashKey(on, head, &b));
  EXPECT_EQ(ringHashKey(on, head, &a), ringHashKey(on, head, &a));
  EXPECT_EQ(ringHashKey(on, head, nullptr), 0u);
}

}  // namespace
}  // namespace portico::proxy
