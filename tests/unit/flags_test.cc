#include "app/flags.h"
#include "temp_dir.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace portico::app {
namespace {

using namespace std::chrono_literals;

TEST(Flags, DefaultsFollowTheDesign) {
  auto f = parseFlags({});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->proxy.http_port, 8080);
  EXPECT_EQ(f->proxy.https_port, 8443);
  EXPECT_EQ(f->proxy.tls.min_version, "1.2");
  EXPECT_EQ(f->admin_port, 9090);
  EXPECT_EQ(f->proxy.bind, "0.0.0.0");
  EXPECT_GE(f->proxy.workers, 1);
  EXPECT_EQ(f->compiler.ingress_class, "portico");
  EXPECT_EQ(f->compiler.controller_name, "portico.dev/ingress-controller");
  EXPECT_FALSE(f->compiler.watch_ingress_without_class);
  EXPECT_EQ(f->proxy.max_header_bytes, 65536u);
  EXPECT_EQ(f->proxy.max_body_size, 0u);
  EXPECT_EQ(f->shutdown_grace, 30s);
  EXPECT_TRUE(f->leader_elect);
  EXPECT_EQ(f->election_id, "portico-leader");
  EXPECT_EQ(f->proxy.max_idle_per_endpoint, 320u);  // ingress-nginx's upstream keepalive
}

TEST(Flags, TlsFlags) {
  auto f = parseFlags({"--https-port", "off", "--tls-min-version=1.3", "--default-ssl-certificate",
                       "ingress/wildcard", "--https-redirect-port", "8443", "--hsts=false",
                       "--hsts-max-age", "60", "--hsts-preload"});
  ASSERT_TRUE(f.ok()) << f.error();
  EXPECT_EQ(f->compiler.tls.redirect_port, 8443);
  EXPECT_FALSE(f->compiler.tls.hsts);
  EXPECT_EQ(f->compiler.tls.hsts_max_age, 60u);
  EXPECT_TRUE(f->compiler.tls.hsts_preload);
  EXPECT_TRUE(f->compiler.tls.hsts_include_subdomains);
  EXPECT_EQ(f->proxy.https_port, -1);
  EXPECT_EQ(f->proxy.tls.min_version, "1.3");
  EXPECT_EQ(f->default_ssl_certificate, "ingress/wildcard");
  EXPECT_TRUE(f->proxy.tls.session_tickets);
  f = parseFlags({"--https-port", "0", "--tls-session-tickets=false"});
  ASSERT_TRUE(f.ok()) << f.error();
  EXPECT_EQ(f->proxy.https_port, 0);
  EXPECT_FALSE(f->proxy.tls.session_tickets);
}

TEST(Flags, BothSpellingsAndBooleans) {
  auto f = parseFlags({"--manifests", "/tmp/m", "--http-port=0", "--workers", "3",
                       "--watch-ingress-without-class", "--leader-elect=false", "--max-body-size",
                       "10Mi", "--shutdown-grace=5s", "--default-backend-service", "ns/svc",
                       "--log-format", "text", "--upstream-connect-timeout", "250ms",
                       "--upstream-keepalive-connections", "0"});
  ASSERT_TRUE(f.ok()) << f.error();
  EXPECT_EQ(f->manifests, "/tmp/m");
  EXPECT_EQ(f->proxy.http_port, 0);
  EXPECT_EQ(f->proxy.workers, 3);
  EXPECT_TRUE(f->compiler.watch_ingress_without_class);
  EXPECT_FALSE(f->leader_elect);
  EXPECT_EQ(f->proxy.max_body_size, 10u << 20);
  EXPECT_EQ(f->shutdown_grace, 5s);
  EXPECT_EQ(f->compiler.default_backend_service, "ns/svc");
  EXPECT_EQ(f->log_format, log::Format::kText);
  EXPECT_EQ(f->proxy.upstream_connect_timeout, 250ms);
  EXPECT_EQ(f->proxy.max_idle_per_endpoint, 0u);
}

TEST(Flags, ErrorsNameTheFlag) {
  struct Bad {
    std::vector<std::string> args;
    std::string error;
  };
  const std::vector<Bad> bad = {
      {{"--nope"}, "unknown flag --nope (see --help)"},
      {{"--http-port", "70000"}, "--http-port=70000: expected a port number from 0 to 65535"},
      {{"--workers=0"}, "--workers=0: expected a number from 1 to 1024"},
      {{"--https-port", "x"}, "--https-port=x: expected a port number from 0 to 65535"},
      {{"--tls-min-version", "1.1"}, "--tls-min-version=1.1: expected 1.2 or 1.3"},
      {{"--tls-ciphers", "NOPE"},
       "--tls-ciphers=NOPE: TLS cipher list \"NOPE\" has no cipher OpenSSL knows"},
      {{"--default-ssl-certificate", "name"},
       "--default-ssl-certificate=name: expected NAMESPACE/NAME"},
      {{"--shutdown-grace", "soon"},
       "--shutdown-grace=soon: expected a duration such as 500ms, 30s, 5m"},
      {{"--manifests"}, "--manifests needs a value (DIR)"},
      {{"--default-backend-service", "svc"},
       "--default-backend-service=svc: expected NAMESPACE/NAME"},
      {{"--log-level", "loud"}, "--log-level=loud: expected debug, info, warn or error"},
      {{"--leader-elect=maybe"}, "--leader-elect=maybe: expected true or false"},
      {{"--max-header-bytes", "10"},
       "--max-header-bytes=10: expected a size from 1Ki to 64Mi, such as 64Ki"},
      {{"--upstream-keepalive-connections", "-1"},
       "--upstream-keepalive-connections=-1: expected a number from 0 to 100000"},
      {{"stray"}, "unexpected argument \"stray\" (flags start with --; see --help)"},
  };
  for (const auto& b : bad) {
    auto f = parseFlags(b.args);
    ASSERT_FALSE(f.ok()) << b.args[0];
    EXPECT_EQ(f.error(), b.error);
  }
}

TEST(Flags, UsageListsEveryDesignFlag) {
  const std::string u = usage();
  for (const char* flag : {"--manifests",
                           "--kubeconfig",
                           "--context",
                           "--http-port",
                           "--https-port",
                           "--admin-port",
                           "--bind",
                           "--workers",
                           "--ingress-class",
                           "--controller-name",
                           "--watch-ingress-without-class",
                           "--watch-namespace",
                           "--default-backend-service",
                           "--publish-service",
                           "--publish-status-address",
                           "--election-id",
                           "--election-namespace",
                           "--leader-elect",
                           "--max-header-bytes",
                           "--max-body-size",
                           "--shutdown-grace",
                           "--log-level",
                           "--log-format"}) {
    EXPECT_NE(u.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace portico::app

namespace portico::app {
namespace {

// --config-dir: a mounted ConfigMap, one file per flag; the command line wins; a file that is
// not a flag, or a bad value, is named.
TEST(Flags, ConfigDirFilesAreFlagsAndTheCommandLineWins) {
  portico::testing::TempDir dir;
  const auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir.path() + "/" + name) << text;
  };
  write("max-body-size", "10Mi\n");
  write("hsts", "false");
  write("log-level", "debug\n");
  std::filesystem::create_directory(dir.path() + "/..data");  // a ConfigMap volume's own entries
  write(".hidden", "anything");
  auto f = parseFlags({"--config-dir", dir.path(), "--log-level=warn"});
  ASSERT_TRUE(f.ok()) << f.error();
  EXPECT_EQ(f->proxy.max_body_size, 10u << 20);
  EXPECT_FALSE(f->compiler.tls.hsts);
  EXPECT_EQ(f->log_level, log::Level::kWarn);

  write("max-body-size", "ten\n");
  f = parseFlags({"--config-dir=" + dir.path()});
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(
      f.error().find("--config-dir=" + dir.path() + ": file max-body-size: --max-body-size=ten"),
      0u)
      << f.error();
  write("max-body-size", "1Mi");
  write("no-such-flag", "1");
  f = parseFlags({"--config-dir=" + dir.path()});
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().find("file no-such-flag: unknown flag --no-such-flag"), std::string::npos)
      << f.error();
  std::filesystem::remove(dir.path() + "/no-such-flag");
  write("hsts", "true\nfalse\n");
  f = parseFlags({"--config-dir=" + dir.path()});
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().find("file hsts: a value is one line"), std::string::npos) << f.error();
  EXPECT_FALSE(parseFlags({"--config-dir=" + dir.path() + "/missing"}).ok());
}

}  // namespace
}  // namespace portico::app
