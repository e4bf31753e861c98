#include "metrics/registry.h"

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
