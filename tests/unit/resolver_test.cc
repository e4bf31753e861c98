// ExternalName resolution (src/dns) against a DNS server of the test's own on loopback:
// addresses and TTLs, re-resolution after the TTL, and the last good addresses kept through
// failures.

#include "dns/resolver.h"

#include "dns_server.h"
#include "http_client.h"

#include <gtest/gtest.h>

namespace portico::dns {
namespace {

using namespace std::chrono_literals;
using portico::testing::DnsServer;
using portico::testing::eventually;

ResolverOptions against(const DnsServer& server) {
  ResolverOptions o;
  o.nameserver = "127.0.0.1";
  o.nameserver_port = server.port();
  o.min_ttl = 1s;
  o.retry = 1s;
  return o;
}

TEST(Dns, LookupGivesTheAddressesAndTheSmallestTtl) {
  DnsServer server;
  server.set("api.example.test", {"192.0.2.2", "192.0.2.1", "2001:db8::1"}, 30);
  const Answer a = lookup("api.example.test", against(server));
  EXPECT_EQ(a.addresses, (std::vector<std::string>{"192.0.2.1", "192.0.2.2", "2001:db8::1"}));
  EXPECT_EQ(a.ttl, 30s);
  EXPECT_TRUE(a.error.empty());
  const Answer missing = lookup("nothing.example.test", against(server));
  EXPECT_TRUE(missing.addresses.empty());
  EXPECT_EQ(missing.error, "no such name");
}

TEST(Dns, ResolverReResolvesAfterTheTtlAndKeepsTheLastGoodAddressesThroughFailures) {
  DnsServer server;
  server.set("db.example.test", {"192.0.2.10"}, 1);
  std::atomic<int> changes{0};
  Resolver resolver(against(server), [&] { ++changes; });
  resolver.watch({"db.example.test", "unknown.example.test"});
  ASSERT_TRUE(eventually([&] { return changes == 1; }));
  EXPECT_EQ(resolver.results(),
            (Resolved{{"db.example.test", {"192.0.2.10"}}}));  // the unknown name is absent
  // The record changes: seen once its TTL (1 s) ran out.
  server.set("db.example.test", {"192.0.2.11", "192.0.2.12"}, 1);
  ASSERT_TRUE(eventually([&] { return changes == 2; }));
  EXPECT_EQ(resolver.results().at("db.example.test"),
            (std::vector<std::string>{"192.0.2.11", "192.0.2.12"}));
  // The server fails: the last good addresses stay, and it is asked again.
  server.fail(true);
  const auto asked = server.queries();
  ASSERT_TRUE(eventually([&] { return server.queries() >= asked + 4; }));
  EXPECT_EQ(resolver.results().at("db.example.test"),
            (std::vector<std::string>{"192.0.2.11", "192.0.2.12"}));
  EXPECT_EQ(changes, 2);
  // Back: a new answer is taken again.
  server.fail(false);
  server.set("db.example.test", {"192.0.2.13"}, 1);
  ASSERT_TRUE(eventually([&] { return changes == 3; }));
  // A name no longer watched is forgotten.
  resolver.watch({});
  EXPECT_TRUE(resolver.results().empty());
}

}  // namespace
}  // namespace portico::dns
