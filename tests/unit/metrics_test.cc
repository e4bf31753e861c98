#include "metrics/registry.h"

#include <array>
#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace portico::metrics {
namespace {

TEST(Registry, ExposesCountersAndGaugesInTextFormat) {
  Registry r;
  r.counter("portico_requests_total", "Requests.", {{"status_class", "2xx"}}).inc(3);
  r.counter("portico_requests_total", "Requests.", {{"status_class", "5xx"}}).inc();
  r.gauge("portico_connections_active", "Open connections.").set(7);
  EXPECT_EQ(r.expose(),
            "# HELP portico_connections_active Open connections.\n"
            "# TYPE portico_connections_active gauge\n"
            "portico_connections_active 7\n"
            "# HELP portico_requests_total Requests.\n"
            "# TYPE portico_requests_total counter\n"
            "portico_requests_total{status_class=\"2xx\"} 3\n"
            "portico_requests_total{status_class=\"5xx\"} 1\n");
}

TEST(Registry, SameSeriesIsSameObject) {
  Registry r;
  auto& a = r.counter("portico_x_total", "X.", {{"a", "1"}});
  auto& b = r.counter("portico_x_total", "X.", {{"a", "1"}});
  EXPECT_EQ(&a, &b);
  EXPECT_THROW(r.gauge("portico_x_total", "X."), std::logic_error);
}

TEST(Registry, EscapesLabelValues) {
  EXPECT_EQ(renderLabels({{"a", "q\"b\\s\nn"}}), "{a=\"q\\\"b\\\\s\\nn\"}");
  EXPECT_EQ(renderLabels({}), "");
}

TEST(Registry, ReplacedGaugeFamiliesLoseSeriesThatAreGone) {
  Registry r;
  r.gauge("portico_b", "B.").set(2);
  r.gauge("portico_z", "Z.").set(3);
  r.replaceGauges("portico_expiry", "Expiry.",
                  {{{{"host", "a.test"}}, 100}, {{{"host", "b.test"}}, 200}});
  EXPECT_EQ(r.expose(),
            "# HELP portico_b B.\n# TYPE portico_b gauge\nportico_b 2\n"
            "# HELP portico_expiry Expiry.\n# TYPE portico_expiry gauge\n"
            "portico_expiry{host=\"a.test\"} 100\nportico_expiry{host=\"b.test\"} 200\n"
            "# HELP portico_z Z.\n# TYPE portico_z gauge\nportico_z 3\n");
  r.replaceGauges("portico_expiry", "Expiry.", {{{{"host", "b.test"}}, 300}});
  const std::string text = r.expose();
  EXPECT_EQ(text.find("a.test"), std::string::npos);
  EXPECT_NE(text.find("portico_expiry{host=\"b.test\"} 300\n"), std::string::npos);
  EXPECT_THROW(r.replaceGauges("portico_b", "B.", {}), std::logic_error);
}

}  // namespace
}  // namespace portico::metrics

namespace portico::metrics {
namespace {

TEST(Registry, HistogramsAreCumulativeWithSumAndCount) {
  Registry r;
  Histogram& h = r.histogram("portico_t_seconds", "T.", timeBuckets(), {{"a", "x"}});
  h.observe(1'000'000);       // 1 ms: the .005 bucket
  h.observe(30'000'000);      // 30 ms: .05
  h.observe(20'000'000'000);  // 20 s: +Inf
  const std::string text = r.expose();
  EXPECT_NE(text.find("# TYPE portico_t_seconds histogram\n"), std::string::npos);
  EXPECT_NE(text.find("portico_t_seconds_bucket{a=\"x\",le=\"0.005\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("portico_t_seconds_bucket{a=\"x\",le=\"0.025\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("portico_t_seconds_bucket{a=\"x\",le=\"0.05\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("portico_t_seconds_bucket{a=\"x\",le=\"10\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("portico_t_seconds_bucket{a=\"x\",le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("portico_t_seconds_sum{a=\"x\"} 20.031\n"), std::string::npos) << text;
  EXPECT_NE(text.find("portico_t_seconds_count{a=\"x\"} 3\n"), std::string::npos);
}

TEST(Registry, ABucketBoundHoldsItsValue) {
  const Buckets& b = sizeBuckets();
  EXPECT_EQ(b.index(0), 0u);
  EXPECT_EQ(b.index(10), 0u);  // le="10" holds 10
  EXPECT_EQ(b.index(11), 1u);
  EXPECT_EQ(b.index(10'000'000), 6u);
  EXPECT_EQ(b.index(10'000'001), 7u);  // +Inf
  EXPECT_THROW(Buckets(std::vector<double>(16, 1.0), 1), std::logic_error);
}

TEST(Registry, OpenMetricsDropsTotalFromCounterFamiliesAndEnds) {
  Registry r;
  r.counter("portico_x_total", "X.").inc(2);
  r.gauge("portico_g", "G.").set(-3);
  const std::string om = r.expose(Format::kOpenMetrics);
  EXPECT_EQ(om,
            "# HELP portico_g G.\n# TYPE portico_g gauge\nportico_g -3\n"
            "# HELP portico_x X.\n# TYPE portico_x counter\nportico_x_total 2\n# EOF\n");
  EXPECT_EQ(negotiate("application/openmetrics-text;version=1.0.0,text/plain;q=0.5"),
            Format::kOpenMetrics);
  EXPECT_EQ(negotiate("text/plain"), Format::kText);
  EXPECT_EQ(negotiate(""), Format::kText);
}

TEST(Registry, CollectorsWriteFamiliesInNameOrderUntilRemoved) {
  Registry r;
  r.gauge("portico_m", "M.").set(1);
  LocalCounter shard_a;
  LocalCounter shard_b;
  const auto id = r.addCollector([&](Exposition& out) {
    out.family("portico_a_total", "A.", Type::kCounter);
    out.sample("", shard_a.value() + shard_b.value());
    out.family("portico_z", "Z.", Type::kGauge);
    out.sample("k=\"v\"", 0.5);
  });
  shard_a.inc(2);
  shard_b.inc(3);
  EXPECT_EQ(r.expose(),
            "# HELP portico_a_total A.\n# TYPE portico_a_total counter\nportico_a_total 5\n"
            "# HELP portico_m M.\n# TYPE portico_m gauge\nportico_m 1\n"
            "# HELP portico_z Z.\n# TYPE portico_z gauge\nportico_z{k=\"v\"} 0.5\n");
  r.removeCollector(id);
  EXPECT_EQ(r.expose().find("portico_a_total"), std::string::npos);
}

TEST(Registry, AFamilyWrittenTwiceIsABug) {
  Registry r;
  r.gauge("portico_m", "M.");
  r.addCollector([](Exposition& out) { out.family("portico_m", "again", Type::kGauge); });
  EXPECT_THROW(r.expose(), std::logic_error);
}

TEST(Registry, LocalCellsSumWhileTheirWritersRun) {
  // One writer per cell, a reader summing meanwhile: every read is a total of whole increments
  // and the last one is exact (TSan-clean under the relaxed load/store pairs).
  std::array<LocalCounter, 2> shards;
  std::atomic<bool> go{true};
  std::vector<std::thread> writers;
  for (auto& s : shards) {
    writers.emplace_back([&s] {
      for (int i = 0; i < 100'000; ++i) {
        s.inc();
      }
    });
  }
  std::uint64_t last = 0;
  while (go.load()) {
    const std::uint64_t now = shards[0].value() + shards[1].value();
    EXPECT_GE(now, last);
    last = now;
    if (now == 200'000) {
      go = false;
    }
  }
  for (auto& t : writers) {
    t.join();
  }
  EXPECT_EQ(shards[0].value() + shards[1].value(), 200'000u);
}

}  // namespace
}  // namespace portico::metrics
