// The object store behind test-apiserver: its semantics are what portico's watcher is tested
// against, so they are tested here against the API conventions.
#include "apiserver/store.h"

#include <gtest/gtest.h>

namespace portico::apiserver {
namespace {

const ResourceType& ingresses() { return *findResource("networking.k8s.io", "v1", "ingresses"); }
const ResourceType& services() { return *findResource("", "v1", "services"); }
const ResourceType& leases() { return *findResource("coordination.k8s.io", "v1", "leases"); }

json ingress(const std::string& name, const json& labels = json::object()) {
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "Ingress"},
          {"metadata", {{"name", name}, {"labels", labels}}},
          {"spec", {{"ingressClassName", "portico"}}}};
}

Selector everything() { return *Selector::parseLabels("", nullptr); }

TEST(Store, CreateGetListWithOneGlobalResourceVersion) {
  Store store;
  auto a = store.create(ingresses(), "ns", ingress("a"));
  ASSERT_EQ(a.code, 201);
  EXPECT_EQ(a.body["metadata"]["namespace"], "ns");
  EXPECT_EQ(a.body["metadata"]["generation"], 1);
  EXPECT_FALSE(a.body["metadata"]["uid"].get<std::string>().empty());
  auto s = store.create(services(), "ns", {{"metadata", {{"name", "svc"}}}});
  EXPECT_EQ(std::stoi(s.body["metadata"]["resourceVersion"].get<std::string>()),
            std::stoi(a.body["metadata"]["resourceVersion"].get<std::string>()) + 1);
  EXPECT_EQ(store.create(ingresses(), "ns", ingress("a")).code, 409);
  EXPECT_EQ(store.get(ingresses(), "ns", "a").code, 200);
  const auto missing = store.get(ingresses(), "ns", "zz");
  EXPECT_EQ(missing.code, 404);
  EXPECT_EQ(missing.body["message"], "ingresses.networking.k8s.io \"zz\" not found");
  store.create(ingresses(), "other", ingress("b"));
  const auto all = store.list(ingresses(), "", everything(), everything());
  ASSERT_EQ(all.body["items"].size(), 2u);
  EXPECT_FALSE(all.body["items"][0].contains("kind"));  // stripped, as a real server does
  EXPECT_EQ(all.body["kind"], "IngressList");
  EXPECT_EQ(all.body["metadata"]["resourceVersion"], std::to_string(store.resourceVersion()));
  EXPECT_EQ(store.list(ingresses(), "ns", everything(), everything()).body["items"].size(), 1u);
}

TEST(Store, UpdateChecksResourceVersionAndKeepsStatusApart) {
  Store store;
  auto a = store.create(ingresses(), "ns", ingress("a")).body;
  json stale = a;
  a["spec"]["ingressClassName"] = "other";
  a["status"] = {{"loadBalancer", {{"ingress", {{{"ip", "1.2.3.4"}}}}}}};
  auto updated = store.update(ingresses(), "ns", "a", a, false);
  ASSERT_EQ(updated.code, 200);
  EXPECT_EQ(updated.body["metadata"]["generation"], 2);
  EXPECT_FALSE(updated.body.contains("status"));  // the main resource ignores status
  EXPECT_EQ(store.update(ingresses(), "ns", "a", stale, false).code, 409);
  auto status = store.update(ingresses(), "ns", "a", a, true);
  EXPECT_EQ(status.code, 409);  // a's resourceVersion is stale now too
  a["metadata"]["resourceVersion"] = updated.body["metadata"]["resourceVersion"];
  status = store.update(ingresses(), "ns", "a", a, true);
  ASSERT_EQ(status.code, 200);
  EXPECT_EQ(status.body["status"]["loadBalancer"]["ingress"][0]["ip"], "1.2.3.4");
  EXPECT_EQ(status.body["metadata"]["generation"], 2);  // a status write keeps the generation
  // Lease has no unconditional update.
  auto lease = store.create(leases(), "ns", {{"metadata", {{"name", "l"}}}}).body;
  lease["metadata"].erase("resourceVersion");
  EXPECT_EQ(store.update(leases(), "ns", "l", lease, false).code, 422);
}

TEST(Store, PatchTypes) {
  Store store;
  store.create(services(), "ns",
               {{"metadata", {{"name", "s"}}},
                {"spec",
                 {{"ports",
                   {{{"name", "http"}, {"port", 80}, {"targetPort", 8080}},
                    {{"name", "https"}, {"port", 443}, {"targetPort", 8443}}}}}}});
  // What `kubectl apply` sends: a strategic merge patch that merges ports by key.
  auto smp =
      store.patch(services(), "ns", "s",
                  json::parse(R"({"spec":{"$setElementOrder/ports":[{"port":80},{"port":443}],
                                          "ports":[{"port":443,"targetPort":9443}]}})"),
                  "application/strategic-merge-patch+json", false);
  ASSERT_EQ(smp.code, 200) << smp.body.dump();
  EXPECT_EQ(smp.body["spec"]["ports"][0]["name"], "http");
  EXPECT_EQ(smp.body["spec"]["ports"][1]["targetPort"], 9443);
  EXPECT_EQ(smp.body["spec"]["ports"][1]["name"], "https");
  auto merge =
      store.patch(services(), "ns", "s", json::parse(R"({"metadata":{"labels":{"a":"b"}}})"),
                  "application/merge-patch+json", false);
  EXPECT_EQ(merge.body["metadata"]["labels"]["a"], "b");
  auto jp = store.patch(services(), "ns", "s",
                        json::parse(R"([{"op":"replace","path":"/spec/ports/0/port","value":81}])"),
                        "application/json-patch+json", false);
  EXPECT_EQ(jp.body["spec"]["ports"][0]["port"], 81);
  EXPECT_EQ(store.patch(services(), "ns", "s", json::object(), "text/plain", false).code, 415);
}

TEST(Store, DeleteAndWatchHistory) {
  Store store;
  std::vector<std::string> seen;
  store.setListener([&](const WatchEvent& e) { seen.push_back(e.type); });
  const auto start = store.resourceVersion();
  store.create(ingresses(), "ns", ingress("a"));
  auto del = store.remove(ingresses(), "ns", "a");
  EXPECT_EQ(del.code, 200);
  EXPECT_EQ(del.body["status"], "Success");
  EXPECT_EQ(seen, (std::vector<std::string>{"ADDED", "DELETED"}));
  const auto events = store.eventsSince(start, ingresses(), "");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1]->object["metadata"]["resourceVersion"],
            std::to_string(store.resourceVersion()));  // the delete's revision
  EXPECT_EQ(store.oldestWatchable(), 0u);
  store.compact();
  EXPECT_EQ(store.oldestWatchable(), store.resourceVersion());
  EXPECT_TRUE(store.eventsSince(start, ingresses(), "").empty());
}

// A list at an exact older version, as etcd serves it: every change since undone (an add, a
// modification, a delete), other kinds untouched; 410 once the history is gone.
TEST(Store, ListAtAnExactVersionUndoesLaterChanges) {
  Store store;
  store.create(ingresses(), "ns", ingress("kept", {{"v", "1"}}));
  store.create(ingresses(), "ns", ingress("deleted"));
  const auto at = store.resourceVersion();
  store.create(ingresses(), "ns", ingress("added"));
  store.patch(ingresses(), "ns", "kept", {{"metadata", {{"labels", {{"v", "2"}}}}}},
              "application/merge-patch+json", false);
  store.remove(ingresses(), "ns", "deleted");
  store.create(services(), "ns", {{"metadata", {{"name", "svc"}}}});
  const auto then = store.listAt(ingresses(), "", everything(), everything(), at);
  ASSERT_EQ(then.code, 200);
  EXPECT_EQ(then.body["metadata"]["resourceVersion"], std::to_string(at));
  const json& items = then.body["items"];
  ASSERT_EQ(items.size(), 2u) << items;
  EXPECT_EQ(items[0]["metadata"]["name"], "deleted");
  EXPECT_EQ(items[1]["metadata"]["name"], "kept");
  EXPECT_EQ(items[1]["metadata"]["labels"]["v"], "1");
  const auto now =
      store.listAt(ingresses(), "", everything(), everything(), store.resourceVersion());
  EXPECT_EQ(now.body["items"].size(), 2u);  // kept and added
  EXPECT_EQ(store.listAt(services(), "", everything(), everything(), at).body["items"].size(), 0u);
  // A restarted watch cache moves the watch window only; a compaction the history too.
  store.restartWatchCache();
  EXPECT_EQ(store.oldestWatchable(), store.resourceVersion());
  EXPECT_EQ(store.listAt(ingresses(), "", everything(), everything(), at).code, 200);
  store.compact();
  EXPECT_EQ(store.listAt(ingresses(), "", everything(), everything(), at).code, 410);
}

TEST(Store, HistoryIsBounded) {
  Store store(2);
  for (int i = 0; i < 5; ++i) {
    store.create(ingresses(), "ns", ingress("i" + std::to_string(i)));
  }
  EXPECT_EQ(store.eventsSince(0, ingresses(), "").size(), 2u);
  EXPECT_EQ(store.oldestWatchable(), store.resourceVersion() - 2);
}

TEST(SelectorTest, LabelsAndFields) {
  std::string error;
  auto sel = Selector::parseLabels("app=web,tier!=db,env in (prod, staging),!legacy", &error);
  ASSERT_TRUE(sel.has_value()) << error;
  EXPECT_TRUE(sel->matches(ingress("x", {{"app", "web"}, {"env", "prod"}})));
  EXPECT_FALSE(sel->matches(ingress("x", {{"app", "web"}, {"env", "dev"}})));
  EXPECT_FALSE(sel->matches(ingress("x", {{"app", "web"}, {"env", "prod"}, {"legacy", "1"}})));
  EXPECT_FALSE(Selector::parseLabels("a in b", &error).has_value());
  auto fields = Selector::parseFields("metadata.name=x", ingresses(), &error);
  ASSERT_TRUE(fields.has_value());
  EXPECT_TRUE(fields->matches(ingress("x")));
  EXPECT_FALSE(fields->matches(ingress("y")));
  EXPECT_FALSE(Selector::parseFields("spec.foo=1", ingresses(), &error).has_value());
  EXPECT_EQ(error, "field label not supported: spec.foo");
}

TEST(Store, SaveAndLoadKeepObjectsButNotHistory) {
  Store store;
  store.create(ingresses(), "ns", ingress("a"));
  Store restored;
  ASSERT_TRUE(restored.load(store.save()));
  EXPECT_EQ(restored.resourceVersion(), store.resourceVersion());
  EXPECT_EQ(restored.get(ingresses(), "ns", "a").code, 200);
  EXPECT_EQ(restored.oldestWatchable(), restored.resourceVersion());
}

}  // namespace
}  // namespace portico::apiserver
