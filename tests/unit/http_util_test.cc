#include "proxy/http_util.h"
#include "proxy/session.h"

#include <gtest/gtest.h>

namespace portico::proxy {
namespace {

TEST(HttpUtil, RemovesHopByHopAndWhatConnectionNames) {
  http::fields f;
  f.set(http::field::connection, "keep-alive, X-Secret");
  f.insert(http::field::connection, "Upgrade");
  f.set("X-Secret", "1");
  f.set(http::field::keep_alive, "timeout=5");
  f.set(http::field::proxy_connection, "keep-alive");
  f.set(http::field::te, "trailers");
  f.set(http::field::trailer, "X");
  f.set(http::field::transfer_encoding, "chunked");
  f.set(http::field::upgrade, "websocket");
  f.set("X-Keep", "yes");
  f.set(http::field::host, "h");
  removeHopByHop(f);
  std::vector<std::string> left;
  for (const auto& field : f) {
    left.emplace_back(field.name_string());
  }
  EXPECT_EQ(left, (std::vector<std::string>{"X-Keep", "Host"}));
}

TEST(HttpUtil, RequestPath) {
  std::string_view authority;
  EXPECT_EQ(requestPath("/a/b?x=1", &authority), "/a/b");
  EXPECT_EQ(authority, "");
  EXPECT_EQ(requestPath("/a#frag", nullptr), "/a");
  EXPECT_EQ(requestPath("http://example.com:8080/p?q", &authority), "/p");
  EXPECT_EQ(authority, "example.com:8080");
  EXPECT_EQ(requestPath("http://example.com", &authority), "/");
  EXPECT_EQ(requestPath("*", nullptr), "*");
}

TEST(HttpUtil, ForwardedForAppends) {
  http::fields f;
  f.insert("X-Forwarded-For", "1.1.1.1");
  f.insert("X-Forwarded-For", "2.2.2.2");
  appendForwardedFor(f, "127.0.0.1");
  EXPECT_EQ(f["X-Forwarded-For"], "1.1.1.1, 2.2.2.2, 127.0.0.1");
  http::fields g;
  appendForwardedFor(g, "10.0.0.1");
  EXPECT_EQ(g["X-Forwarded-For"], "10.0.0.1");
}

TEST(HttpUtil, DateAndIdempotence) {
  EXPECT_EQ(httpDate(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_TRUE(isIdempotent(http::verb::get));
  EXPECT_TRUE(isIdempotent(http::verb::put));
  EXPECT_FALSE(isIdempotent(http::verb::post));
  EXPECT_FALSE(isIdempotent(http::verb::patch));
}

TEST(ProxyError, OneMappingToStatus) {
  EXPECT_EQ(proxyErrorStatus({Phase::kReadHeader, Cause::kMalformed}), 400u);
  EXPECT_EQ(proxyErrorStatus({Phase::kRoute, Cause::kNoRoute}), 404u);
  EXPECT_EQ(proxyErrorStatus({Phase::kReadHeader, Cause::kClientTimeout}), 408u);
  EXPECT_EQ(proxyErrorStatus({Phase::kForwardRequest, Cause::kBodyTooLarge}), 413u);
  EXPECT_EQ(proxyErrorStatus({Phase::kReadHeader, Cause::kHeadersTooLarge}), 431u);
  EXPECT_EQ(proxyErrorStatus({Phase::kConnect, Cause::kRefused}), 502u);
  EXPECT_EQ(proxyErrorStatus({Phase::kUpstreamHeaders, Cause::kInvalidResponse}), 502u);
  EXPECT_EQ(proxyErrorStatus({Phase::kSelectUpstream, Cause::kNoEndpoint}), 503u);
  EXPECT_EQ(proxyErrorStatus({Phase::kUpstreamHeaders, Cause::kTimeout}), 504u);
  EXPECT_STREQ(phaseName(Phase::kUpstreamHeaders), "upstreamHeaders");
}

}  // namespace
}  // namespace portico::proxy
