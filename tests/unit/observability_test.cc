// Request series, access log lines and their rings, /proc parsing.
#include "metrics/process.h"
#include "metrics/request_stats.h"
#include "metrics_text.h"
#include "proxy/access_log.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <thread>

namespace portico {
namespace {

using metrics::Method;
using metrics::RequestSample;
using testing::metricSum;

RequestSample sample(Method m, unsigned status, std::uint64_t ns = 1'000'000) {
  RequestSample s;
  s.method = m;
  s.status = status;
  s.duration_ns = ns;
  s.request_bytes = 80;
  s.response_bytes = 500;
  s.upstream = true;
  s.upstream_response_ns = ns / 2;
  s.upstream_connect_ns = 0;
  return s;
}

TEST(RequestStats, WorkersCountApartAndAScrapeSumsThem) {
  metrics::Registry r;
  metrics::RequestStatsTable table(r, 2);
  auto web = table.get("default", "web", "svc", "web.test", "/");
  web->record(0, sample(Method::kGet, 200));
  web->record(1, sample(Method::kGet, 200));
  web->record(1, sample(Method::kPost, 503, 20'000'000'000));
  table.unmatched().record(0, sample(Method::kOther, 404));
  const std::string text = r.expose();
  const std::string series =
      "namespace=\"default\",ingress=\"web\",service=\"svc\",host=\"web.test\",path=\"/\"";
  EXPECT_NE(text.find("portico_requests_total{" + series + ",method=\"GET\",status=\"200\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("portico_requests_total{" + series + ",method=\"POST\",status=\"503\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("portico_requests_total{namespace=\"\",ingress=\"\",service=\"\",host=\"_\","
                      "path=\"\",method=\"other\",status=\"404\"} 1\n"),
            std::string::npos);
  EXPECT_EQ(metricSum(text, "portico_request_duration_seconds_count", {"ingress=\"web\""}), 3);
  EXPECT_EQ(
      metricSum(text, "portico_request_duration_seconds_bucket", {"ingress=\"web\"", "le=\"10\""}),
      2);  // the 20 s one is over every bound
  EXPECT_EQ(metricSum(text, "portico_response_size_bytes_sum", {"ingress=\"web\""}), 1500);
  EXPECT_EQ(metricSum(text, "portico_upstream_connect_duration_seconds_count", {"web"}), 3);
}

TEST(RequestStats, ManyStatusCombinationsOverflowIntoMoreBlocks) {
  metrics::Registry r;
  metrics::RequestStatsTable table(r, 1);
  auto s = table.get("ns", "i", "svc", "h", "/");
  for (unsigned status = 200; status < 240; ++status) {
    for (int i = 0; i < 3; ++i) {
      s->record(0, sample(Method::kGet, status));
    }
  }
  const auto totals = s->totals();
  EXPECT_EQ(totals.by_key.size(), 40u);
  for (const auto& [key, count] : totals.by_key) {
    EXPECT_EQ(count, 3u) << key;
  }
}

TEST(RequestStats, RetainDropsTheSeriesOfRoutesThatWentAway) {
  metrics::Registry r;
  metrics::RequestStatsTable table(r, 1);
  auto a = table.get("ns", "a", "svc", "h", "/a");
  auto b = table.get("ns", "b", "svc", "h", "/b");
  EXPECT_EQ(table.get("ns", "a", "svc", "h", "/a"), a);  // one per label set
  a->record(0, sample(Method::kGet, 200));
  b->record(0, sample(Method::kGet, 200));
  metrics::RouteStatsIndex index;  // the routes of the next config: only a's
  index.slots.push_back({a, {}});
  table.retain(index);
  b->record(0, sample(Method::kGet, 200));  // a request still on the old config: harmless
  const std::string text = r.expose();
  EXPECT_NE(text.find("ingress=\"a\""), std::string::npos);
  EXPECT_EQ(text.find("ingress=\"b\""), std::string::npos);
  EXPECT_EQ(table.size(), 1u);
}

TEST(RequestStats, LabelValuesAreEscaped) {
  metrics::Registry r;
  metrics::RequestStatsTable table(r, 1);
  table.get("ns", "i", "svc", "h", "/a\"b\\c")->record(0, sample(Method::kGet, 200));
  EXPECT_NE(r.expose().find("path=\"/a\\\"b\\\\c\""), std::string::npos);
}

TEST(RequestStats, MethodsOutsideTheListAreOther) {
  EXPECT_EQ(metrics::methodOf("GET"), Method::kGet);
  EXPECT_EQ(metrics::methodOf("PATCH"), Method::kPatch);
  EXPECT_EQ(metrics::methodOf("get"), Method::kOther);  // methods are case-sensitive
  EXPECT_EQ(metrics::methodOf("BREW"), Method::kOther);
  EXPECT_STREQ(metrics::methodName(Method::kOther), "other");
}

proxy::AccessRecord record() {
  proxy::AccessRecord r;
  r.wall_ns = 1'796'357'182'123'000'000;  // 2026-12-04T04:06:22.123Z
  r.request_id = "abc";
  r.client = "192.0.2.7";
  r.method = "GET";
  r.host = "web.test";
  r.target = "/a?b=c";
  r.status = 200;
  r.bytes_in = 80;
  r.bytes_out = 600;
  r.body_bytes_out = 500;
  r.duration_ns = 4'200'000;
  r.upstream = "10.0.0.1";
  r.upstream_port = 8080;
  r.upstream_status = 200;
  r.upstream_duration_ns = 3'000'000;
  r.upstream_bytes = 500;
  r.ns = "default";
  r.ingress = "web";
  r.service = "svc";
  r.target_group = "default/svc:80";
  return r;
}

TEST(AccessLog, JsonLinesCarryEveryField) {
  std::string line;
  proxy::formatAccessJson(record(), line);
  ASSERT_EQ(line.back(), '\n');
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["time"], "2026-12-04T04:06:22.123Z");
  EXPECT_EQ(j["request_id"], "abc");
  EXPECT_EQ(j["client"], "192.0.2.7");
  EXPECT_EQ(j["method"], "GET");
  EXPECT_EQ(j["host"], "web.test");
  EXPECT_EQ(j["path"], "/a?b=c");
  EXPECT_EQ(j["protocol"], "HTTP/1.1");
  EXPECT_EQ(j["status"], 200);
  EXPECT_EQ(j["bytes_in"], 80);
  EXPECT_EQ(j["bytes_out"], 600);
  EXPECT_DOUBLE_EQ(j["duration"].get<double>(), 0.004);
  EXPECT_EQ(j["upstream"], "10.0.0.1:8080");
  EXPECT_EQ(j["upstream_status"], 200);
  EXPECT_DOUBLE_EQ(j["upstream_duration"].get<double>(), 0.003);
  EXPECT_EQ(j["namespace"], "default");
  EXPECT_EQ(j["ingress"], "web");
  EXPECT_EQ(j["service"], "svc");
}

TEST(AccessLog, HostileBytesStayInsideTheirJsonString) {
  proxy::AccessRecord r = record();
  const std::string host = std::string("evil\"},\"status\":1,\"x\":\"\\\n\r\x01\x7f\xff", 24);
  r.host = host;
  r.target = "/\"\n";
  r.upstream = {};
  r.upstream_status = 0;
  std::string line;
  proxy::formatAccessJson(r, line);
  EXPECT_EQ(line.find('\n'), line.size() - 1);  // one line, whatever was sent
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["status"], 200);
  EXPECT_EQ(j["host"].get<std::string>().substr(0, 7), "evil\"},");
  EXPECT_TRUE(j["upstream_status"].is_null());
  EXPECT_TRUE(j["upstream_duration"].is_null());
}

// The reference: each byte on its own, as the formatter's slow path does.
std::string escapedJson(const std::string& s) {
  static const char* hex = "0123456789abcdef";
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u == '"' || u == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7f) {
      out += "\\u00";
      out += hex[u >> 4];
      out += hex[u & 0xF];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

TEST(AccessLog, EveryByteAtEveryPlaceOfAWordIsEscapedAsAlone) {
  // The fast path tests eight bytes at once: every byte value, at each offset of a word and
  // beside plain ones, must come out as the byte-by-byte reference says.
  for (int b = 0; b < 256; ++b) {
    for (std::size_t at = 0; at < 17; ++at) {
      std::string host(17, 'a');
      host[at] = static_cast<char>(b);
      proxy::AccessRecord r = record();
      r.host = host;
      std::string line;
      proxy::formatAccessJson(r, line);
      ASSERT_NE(line.find(",\"host\":" + escapedJson(host) + ","), std::string::npos)
          << "byte " << b << " at " << at << ": " << line;
    }
  }
}

TEST(AccessLog, NginxLinesFollowIngressNginxsDefaultFormat) {
  proxy::AccessRecord r = record();
  r.user_agent = "curl/8 \"x\"";
  std::string line;
  proxy::formatAccessNginx(r, line);
  EXPECT_EQ(line,
            "192.0.2.7 - - [04/Dec/2026:04:06:22 +0000] \"GET /a?b=c HTTP/1.1\" 200 500 \"-\" "
            "\"curl/8 \\x22x\\x22\" 80 0.004 [default/svc:80] [] 10.0.0.1:8080 500 0.003 200 "
            "abc\n");
  proxy::AccessRecord local = record();
  local.upstream = {};
  line.clear();
  proxy::formatAccessNginx(local, line);
  EXPECT_NE(line.find("[default/svc:80] [] - - - - abc\n"), std::string::npos) << line;
}

TEST(AccessLog, ARingTakesWholeLinesOrNone) {
  proxy::AccessLogRing ring(64);
  EXPECT_TRUE(ring.push(std::string(40, 'a')));
  EXPECT_FALSE(ring.push(std::string(30, 'b')));  // 24 bytes free
  std::string out;
  EXPECT_EQ(ring.drain(out), 40u);
  EXPECT_EQ(out, std::string(40, 'a'));
  // Wraps around the end.
  EXPECT_TRUE(ring.push(std::string(50, 'c')));
  out.clear();
  ring.drain(out);
  EXPECT_EQ(out, std::string(50, 'c'));
  EXPECT_FALSE(ring.push(std::string(65, 'd')));  // never fits
  EXPECT_EQ(ring.drain(out), 0u);
}

TEST(AccessLog, TheWriterDrainsEveryWorkersRingToItsDescriptor) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::string got;
  std::thread reader([&] {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof(buf))) > 0) {
      got.append(buf, static_cast<std::size_t>(n));
    }
  });
  {
    proxy::AccessLogWriter writer(2, 1 << 16, fds[1]);
    std::thread w0([&] {
      for (int i = 0; i < 1000; ++i) {
        while (!writer.ring(0).push("zero " + std::to_string(i) + "\n")) {
          writer.poke();
        }
        writer.poke();
      }
    });
    for (int i = 0; i < 1000; ++i) {
      while (!writer.ring(1).push("one " + std::to_string(i) + "\n")) {
        writer.poke();
      }
      writer.poke();
    }
    w0.join();
    writer.flush();
  }
  ::close(fds[1]);
  reader.join();
  ::close(fds[0]);
  std::istringstream in(got);
  std::string line;
  int zero = 0;
  int one = 0;
  while (std::getline(in, line)) {
    // Each worker's lines arrive whole and in order.
    if (line.rfind("zero ", 0) == 0) {
      EXPECT_EQ(line, "zero " + std::to_string(zero++));
    } else {
      EXPECT_EQ(line, "one " + std::to_string(one++));
    }
  }
  EXPECT_EQ(zero, 1000);
  EXPECT_EQ(one, 1000);
}

TEST(Process, ProcStatWithSpacesAndParenthesesInTheCommand) {
  // Fields from proc(5): utime 14 = 250 ticks, stime 15 = 50, threads 20 = 7, starttime 22 =
  // 1000 ticks, vsize 23, rss 24 pages.
  const std::string stat =
      "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 1000 "
      "123456789 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
  metrics::ProcessSample s;
  ASSERT_TRUE(metrics::parseProcStat(stat, 1'700'000'000, 100, 4096, s));
  EXPECT_DOUBLE_EQ(s.cpu_seconds, 3.0);
  EXPECT_EQ(s.threads, 7);
  EXPECT_DOUBLE_EQ(s.start_time_seconds, 1'700'000'010.0);
  EXPECT_DOUBLE_EQ(s.virtual_bytes, 123456789.0);
  EXPECT_DOUBLE_EQ(s.resident_bytes, 300.0 * 4096);
  EXPECT_FALSE(metrics::parseProcStat("garbage", 0, 100, 4096, s));
  EXPECT_FALSE(metrics::parseProcStat("1 (x) S 1 2", 0, 100, 4096, s));
}

TEST(Process, ThisProcessIsRead) {
  metrics::Registry r;
  metrics::registerProcessMetrics(r, "1.2.3", "abc");
  const std::string text = r.expose();
  EXPECT_NE(text.find("portico_build_info{version=\"1.2.3\",revision=\"abc\"} 1\n"),
            std::string::npos);
  EXPECT_GT(metricSum(text, "process_resident_memory_bytes"), 1e6);
  EXPECT_GT(metricSum(text, "process_open_fds"), 2);
  EXPECT_GT(metricSum(text, "process_max_fds"), 0);
  EXPECT_GT(metricSum(text, "process_start_time_seconds"), 1.7e9);
  EXPECT_GE(metricSum(text, "process_threads"), 1);
}

}  // namespace
}  // namespace portico
