#include "snapshot/snapshot.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace portico::snapshot {
namespace {

Route route(PathMatch match, std::string path, std::uint32_t tg, std::string ingress = "ns/i") {
  return Route{match, std::move(path), Forward{{WeightedTarget{tg}}}, {}, std::move(ingress)};
}

// Target groups: 0 "a", 1 "b", 2 "c", 3 "default-h", 4 "catch-all".
Snapshot makeSnapshot() {
  std::vector<TargetGroup> tgs = {{"a", {{"10.0.0.1", 80}}},
                                  {"b", {{"10.0.0.2", 80}}},
                                  {"c", {{"10.0.0.3", 80}}},
                                  {"default-h", {{"10.0.0.4", 80}}},
                                  {"catch-all", {{"10.0.0.5", 80}}}};
  VirtualHost exact{"foo.example.com",
                    {route(PathMatch::kExact, "/foo/bar", 1, "ns/i"),
                     route(PathMatch::kPrefix, "/foo", 0, "ns/i")},
                    3};
  VirtualHost wildcard{"*.example.com", {route(PathMatch::kPrefix, "", 2, "ns/i")}, kNoTargetGroup};
  VirtualHost any{"", {route(PathMatch::kPrefix, "/any", 2, "ns/i")}, 4};
  return Snapshot(tgs, {exact, wildcard}, any);
}

std::string lookupId(const Snapshot& s, std::string_view host, std::string_view path) {
  const auto m = s.lookup(host, path);
  return m.target_group == nullptr ? "404" : m.target_group->id;
}

TEST(RouteMatch, PrefixIsElementWise) {
  const Route r = route(PathMatch::kPrefix, "/foo", 0, "");
  EXPECT_TRUE(r.matches("/foo"));
  EXPECT_TRUE(r.matches("/foo/"));
  EXPECT_TRUE(r.matches("/foo/bar"));
  EXPECT_FALSE(r.matches("/foobar"));
  EXPECT_FALSE(r.matches("/fo"));
  EXPECT_FALSE(r.matches("/FOO"));
  const Route root = route(PathMatch::kPrefix, "", 0, "");
  EXPECT_TRUE(root.matches("/"));
  EXPECT_TRUE(root.matches("/anything"));
}

TEST(RouteMatch, ExactIsWholeAndCaseSensitive) {
  const Route r = route(PathMatch::kExact, "/foo/", 0, "");
  EXPECT_TRUE(r.matches("/foo/"));
  EXPECT_FALSE(r.matches("/foo"));
  EXPECT_FALSE(r.matches("/foo/x"));
  EXPECT_FALSE(r.matches("/Foo/"));
}

TEST(Lookup, HostsPathsAndDefaults) {
  const Snapshot s = makeSnapshot();
  struct Row {
    const char* host;
    const char* path;
    const char* want;
  };
  const Row rows[] = {
      {"foo.example.com", "/foo/bar", "b"},
      {"FOO.Example.COM:8080", "/foo/bar", "b"},  // case and port ignored
      {"foo.example.com.", "/foo", "a"},          // trailing dot
      {"foo.example.com", "/foo/baz", "a"},
      {"foo.example.com", "/foobar", "default-h"},  // named host: its own default, no fall-through
      {"bar.example.com", "/whatever", "c"},        // wildcard
      {"a.b.example.com", "/any", "c"},             // two labels: not the wildcard -> any host
      {"a.b.example.com", "/none", "catch-all"},
      {"example.com", "/x", "catch-all"},
      {"", "/any/thing", "c"},
      {"[::1]:8080", "/any", "c"},
  };
  for (const auto& r : rows) {
    EXPECT_EQ(lookupId(s, r.host, r.path), r.want) << r.host << " " << r.path;
  }
}

TEST(Lookup, NoDefaultMeans404) {
  const Snapshot s({{"a", {}}}, {{"h", {route(PathMatch::kExact, "/x", 0, "")}, kNoTargetGroup}},
                   VirtualHost{});
  EXPECT_EQ(lookupId(s, "h", "/y"), "404");
  EXPECT_EQ(lookupId(s, "other", "/x"), "404");
  EXPECT_EQ(lookupId(s, "h", "/x"), "a");
}

TEST(Lookup, OverlongHostGoesToAnyHost) {
  const Snapshot s = makeSnapshot();
  EXPECT_EQ(lookupId(s, std::string(300, 'a'), "/any"), "c");
}

TEST(Snapshot, CountsAndJson) {
  const Snapshot s = makeSnapshot();
  EXPECT_EQ(s.routeCount(), 4u);
  const auto j = toJson(s);
  EXPECT_EQ(j["hosts"][0]["host"], "foo.example.com");
  EXPECT_EQ(j["hosts"][0]["defaultTargetGroup"], "default-h");
  EXPECT_EQ(j["anyHost"]["routes"][0]["targetGroup"], "c");
}

}  // namespace
}  // namespace portico::snapshot
