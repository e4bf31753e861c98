#include "k8s/manifest_source.h"
#include "temp_dir.h"
#include "test_state.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

namespace portico::k8s {
namespace {

using namespace std::chrono_literals;
using portico::testing::serviceYaml;
using portico::testing::TempDir;

using portico::testing::kWebIngress;
const std::string& kIngress = kWebIngress;

TEST(ManifestSource, ReadsYamlYmlAndJsonOnly) {
  TempDir dir;
  dir.write("svc.yaml", serviceYaml("web", {"10.0.0.1"}));
  dir.write("ing.yml", kIngress);
  dir.write(
      "cm.json",
      R"({"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"x"},"data":{"a":"b"}}]})");
  dir.write("notes.txt", "not a manifest");
  dir.write(".hidden.yaml", kIngress);
  ManifestSource source(dir.path());
  ASSERT_TRUE(source.open().ok());
  EXPECT_TRUE(source.reload());
  EXPECT_EQ(source.state().services.size(), 1u);
  EXPECT_EQ(source.state().endpoint_slices.size(), 1u);
  EXPECT_EQ(source.state().ingresses.count("default/web"), 1u);
  EXPECT_EQ(source.state().config_maps.count("x/c"), 1u);
  EXPECT_TRUE(source.errors().empty());
  EXPECT_FALSE(source.reload());  // nothing changed
}

TEST(ManifestSource, AFileRewrittenInPlaceIsReadOnlyWhenComplete) {
  TempDir dir;
  dir.write("svc.yaml", serviceYaml("web", {"10.0.0.1"}));
  ManifestSource source(dir.path());
  ASSERT_TRUE(source.open().ok());
  ASSERT_TRUE(source.reload());
  // As `cat > svc.yaml` does: truncate, then write in pieces, then close.
  const std::string next = serviceYaml("web", {"10.0.0.2"}) + serviceYaml("api", {"10.0.0.3"});
  const std::string path = dir.path() + "/svc.yaml";
  const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(source.waitForChange(5s));  // the truncation
  EXPECT_FALSE(source.reload());          // empty mid-write: the old objects keep routing
  ASSERT_EQ(::write(fd, next.data(), next.size() / 2), static_cast<ssize_t>(next.size() / 2));
  EXPECT_TRUE(source.waitForChange(5s));
  EXPECT_FALSE(source.reload());  // half-written: still the old objects, no parse error
  EXPECT_EQ(source.state().services.size(), 1u);
  EXPECT_EQ(source.state().endpoint_slices.begin()->second.endpoints[0].addresses[0], "10.0.0.1");
  EXPECT_TRUE(source.errors().empty());
  const std::size_t rest = next.size() - next.size() / 2;
  ASSERT_EQ(::write(fd, next.data() + next.size() / 2, rest), static_cast<ssize_t>(rest));
  ::close(fd);
  EXPECT_TRUE(source.waitForChange(5s));  // the close
  EXPECT_TRUE(source.reload());
  EXPECT_EQ(source.state().services.size(), 2u);
  EXPECT_TRUE(source.errors().empty());
}

TEST(ManifestSource, AFileMovedIntoPlaceIsReadAtOnce) {
  TempDir dir;
  ManifestSource source(dir.path());
  ASSERT_TRUE(source.open().ok());
  source.reload();
  dir.write(".tmp-svc", serviceYaml("web", {"10.0.0.1"}));  // not a manifest name
  ASSERT_EQ(::rename((dir.path() + "/.tmp-svc").c_str(), (dir.path() + "/svc.yaml").c_str()), 0);
  EXPECT_TRUE(source.waitForChange(5s));
  EXPECT_TRUE(source.reload());
  EXPECT_EQ(source.state().services.size(), 1u);
}

TEST(ManifestSource, BrokenFileKeepsItsLastGoodObjects) {
  TempDir dir;
  dir.write("ing.yaml", kIngress);
  ManifestSource source(dir.path());
  ASSERT_TRUE(source.open().ok());
  source.reload();
  dir.write("ing.yaml", "apiVersion: v1\nkind: [unclosed\n");
  EXPECT_FALSE(source.reload());
  EXPECT_EQ(source.state().ingresses.size(), 1u);
  ASSERT_EQ(source.errors().size(), 1u);
  EXPECT_NE(source.errors()[0].find("ing.yaml: invalid YAML: line 3"), std::string::npos)
      << source.errors()[0];
  EXPECT_NE(source.errors()[0].find("still serving its previous content"), std::string::npos);
  dir.write("ing.yaml", kIngress);
  source.reload();
  EXPECT_TRUE(source.errors().empty());
}

TEST(ManifestSource, InvalidObjectIsReportedAndTheRestKept) {
  TempDir dir;
  dir.write("mixed.yaml", serviceYaml("web", {"10.0.0.1"}) +
                              "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: "
                              "bad}\nspec: {rules: [{host: 7}]}\n---\n" +
                              kIngress);
  ManifestSource source(dir.path());
  ASSERT_TRUE(source.open().ok());
  source.reload();
  EXPECT_EQ(source.state().ingresses.size(), 1u);
  EXPECT_EQ(source.state().services.size(), 1u);
  ASSERT_EQ(source.errors().size(), 1u);
  EXPECT_EQ(source.errors()[0],
            "mixed.yaml: document 3: Ingress default/bad: spec.rules[0].host: expected a string, "
            "got number");
}

TEST(ManifestSource, DeletedFileTakesItsObjects) {
  TempDir dir;
  dir.write("a.yaml", kIngress);
  dir.write("b.yaml", serviceYaml("web", {"10.0.0.1"}));
  ManifestSource source(dir.path());
  ASSERT_TRUE(source.open().ok());
  source.reload();
  dir.remove("a.yaml");
  EXPECT_TRUE(source.reload());
  EXPECT_TRUE(source.state().ingresses.empty());
  EXPECT_EQ(source.state().services.size(), 1u);
}

TEST(ManifestSource, SameObjectInTwoFilesIsReported) {
  TempDir dir;
  dir.write("a.yaml", kIngress);
  dir.write("b.yaml", kIngress);
  ManifestSource source(dir.path());
  ASSERT_TRUE(source.open().ok());
  source.reload();
  ASSERT_EQ(source.errors().size(), 1u);
  EXPECT_EQ(source.errors()[0],
            "b.yaml: Ingress default/web is also in a.yaml; the copy in b.yaml is used");
}

TEST(ManifestSource, WatchNamespaceFilters) {
  TempDir dir;
  dir.write("a.yaml", serviceYaml("web", {"10.0.0.1"}, "one") + serviceYaml("web", {}, "two"));
  ManifestSource source(dir.path(), "two");
  ASSERT_TRUE(source.open().ok());
  source.reload();
  ASSERT_EQ(source.state().services.size(), 1u);
  EXPECT_EQ(source.state().services.begin()->first, "two/web");
}

TEST(ManifestSource, InotifySeesWritesAndWakeInterrupts) {
  TempDir dir;
  ManifestSource source(dir.path());
  ASSERT_TRUE(source.open().ok());
  source.reload();
  dir.write("a.yaml", kIngress);
  bool changed = false;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!changed && std::chrono::steady_clock::now() < deadline) {
    changed = source.waitForChange(500ms);
  }
  EXPECT_TRUE(changed);
  EXPECT_TRUE(source.reload());
  source.wake();
  EXPECT_FALSE(source.waitForChange(5s));  // returns at once: woken, nothing changed
}

TEST(ManifestSource, MissingDirectoryIsAnError) {
  ManifestSource source("/nonexistent/portico");
  auto r = source.open();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), "--manifests /nonexistent/portico: not a directory");
}

}  // namespace
}  // namespace portico::k8s
