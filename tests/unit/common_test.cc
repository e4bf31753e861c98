#include "common/result.h"
#include "common/strings.h"

#include <gtest/gtest.h>

namespace portico {
namespace {

using namespace std::chrono_literals;

TEST(Strings, LowerAndCompare) {
  EXPECT_EQ(toLower("HeLLo.Example.COM"), "hello.example.com");
  EXPECT_TRUE(iequals("Upgrade", "upgrade"));
  EXPECT_FALSE(iequals("Upgrade", "upgrades"));
  EXPECT_EQ(trim("  a b \t"), "a b");
  EXPECT_EQ(split("a,b,,c", ','), (std::vector<std::string_view>{"a", "b", "", "c"}));
  EXPECT_TRUE(startsWith("/foo/bar", "/foo"));
  EXPECT_TRUE(endsWith("x.yaml", ".yaml"));
  EXPECT_FALSE(endsWith("yaml", ".yaml"));
}

TEST(Strings, Durations) {
  EXPECT_EQ(parseDuration("250ms"), 250ms);
  EXPECT_EQ(parseDuration("30s"), 30s);
  EXPECT_EQ(parseDuration("30"), 30s);
  EXPECT_EQ(parseDuration("5m"), 5min);
  EXPECT_EQ(parseDuration("1h"), 1h);
  for (const char* bad : {"", "s", "-1s", "1.5s", "10x", "ms10"}) {
    EXPECT_FALSE(parseDuration(bad).has_value()) << bad;
  }
}

TEST(Strings, Sizes) {
  EXPECT_EQ(parseSize("64Ki"), 65536u);
  EXPECT_EQ(parseSize("1m"), 1048576u);
  EXPECT_EQ(parseSize("2Gi"), 2147483648u);
  EXPECT_EQ(parseSize("0"), 0u);
  EXPECT_EQ(parseSize("100"), 100u);
  for (const char* bad :
       {"", "Ki", "1Ti", "-5", "99999999999999999999", "18446744073709551615Ki"}) {
    EXPECT_FALSE(parseSize(bad).has_value()) << bad;
  }
}

TEST(ResultTest, ValueAndError) {
  Result<int> ok = 5;
  Result<int> bad = Error{"nope"};
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 5);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), "nope");
}

TEST(Strings, DnsNameCoverage) {
  EXPECT_TRUE(dnsNameCovers("a.test", "a.test"));
  EXPECT_FALSE(dnsNameCovers("a.test", "b.a.test"));
  EXPECT_TRUE(dnsNameCovers("*.a.test", "b.a.test"));
  EXPECT_FALSE(dnsNameCovers("*.a.test", "a.test"));
  EXPECT_FALSE(dnsNameCovers("*.a.test", "c.b.a.test"));
  EXPECT_FALSE(dnsNameCovers("*.a.test", ".a.test"));
  EXPECT_FALSE(dnsNameCovers("*.", "a."));
}

TEST(Strings, WildcardFor) {
  EXPECT_EQ(wildcardFor("b.a.test"), "*.a.test");
  EXPECT_EQ(wildcardFor("a.test"), "*.test");
  EXPECT_EQ(wildcardFor("localhost"), "");
  EXPECT_EQ(wildcardFor(".a.test"), "");
  EXPECT_EQ(wildcardFor("*.a.test"), "");
  EXPECT_EQ(wildcardFor(""), "");
}

}  // namespace
}  // namespace portico
