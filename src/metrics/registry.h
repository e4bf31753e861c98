#pragma once
// A small Prometheus registry: counters, gauges and histograms with labels, exposed in the text
// format (0.0.4) or as OpenMetrics (1.0.0). Hand-written because prometheus-cpp is not packaged
// by Debian.
//
// Two kinds of cell:
// - shared ones (Counter, Gauge, Histogram): relaxed atomics any thread may update; for the
//   control plane and rare events, registered once and held by reference;
// - local ones (LocalCounter, LocalGauge, LocalHistogram): one writer thread (a worker), read at
//   scrape time by another. An update is a plain load and store, no locked instruction and no
//   cache line shared with another writer; a collector sums the shards when /metrics is read.
//
// Families a component computes at scrape time (per-worker shards, per-route request series,
// process_* from /proc) are collectors: a callback that writes whole families through an
// Exposition. Every family appears once, families sorted by name.
//
// Threads: registration and expose() take the registry's mutex; cells never do.

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portico::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter final {
 public:
  void inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge final {
 public:
  void set(std::int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void add(std::int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

// Written by one thread only; read by any.
class LocalCounter final {
 public:
  void inc(std::uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class LocalGauge final {
 public:
  void add(std::int64_t n) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void set(std::int64_t v) { value_.store(v, std::memory_order_relaxed); }
  std::int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

// A histogram's upper bounds, in integer ticks of `unit` base units each (nanoseconds for
// seconds: unit 1e-9; bytes: unit 1), so an observation is an integer compare and add.
class Buckets final {
 public:
  static constexpr std::size_t kMax = 15;
  // `bounds` in base units (seconds, bytes), increasing; at most kMax.
  Buckets(std::vector<double> bounds, double unit);
  std::size_t size() const { return bounds_.size(); }
  double bound(std::size_t i) const { return bounds_[i]; }
  double unit() const { return unit_; }
  // The first bucket whose bound holds `ticks`; size() for +Inf.
  std::size_t index(std::uint64_t ticks) const {
    std::size_t i = 0;
    while (i < ticks_.size() && ticks > ticks_[i]) {
      ++i;
    }
    return i;
  }

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> ticks_;
  double unit_;
};

// ingress-nginx's time buckets, .005 to 10 s, in nanoseconds.
const Buckets& timeBuckets();
// Powers of ten, 10 B to 10 MB, in bytes.
const Buckets& sizeBuckets();

// What a scrape reads of a histogram: counts per bucket (not cumulative; the last is +Inf)
// and the sum, in ticks.
struct HistogramValue {
  const Buckets* buckets = nullptr;
  std::vector<std::uint64_t> counts;
  std::uint64_t sum = 0;
  void add(const HistogramValue& other);
};

template <bool kShared>
class BasicHistogram final {
 public:
  explicit BasicHistogram(const Buckets& buckets) : buckets_(&buckets) {}
  void observe(std::uint64_t ticks) {
    bump(counts_[buckets_->index(ticks)], 1);
    bump(sum_, ticks);
  }
  HistogramValue read() const {
    HistogramValue v{buckets_, std::vector<std::uint64_t>(buckets_->size() + 1), 0};
    for (std::size_t i = 0; i <= buckets_->size(); ++i) {
      v.counts[i] = counts_[i].load(std::memory_order_relaxed);
    }
    v.sum = sum_.load(std::memory_order_relaxed);
    return v;
  }
  const Buckets& buckets() const { return *buckets_; }

 private:
  static void bump(std::atomic<std::uint64_t>& cell, std::uint64_t n) {
    if constexpr (kShared) {
      cell.fetch_add(n, std::memory_order_relaxed);
    } else {
      cell.store(cell.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
  }
  const Buckets* buckets_;
  std::atomic<std::uint64_t> counts_[Buckets::kMax + 1] = {};
  std::atomic<std::uint64_t> sum_{0};
};
using Histogram = BasicHistogram<true>;
using LocalHistogram = BasicHistogram<false>;

enum class Format { kText, kOpenMetrics };
enum class Type { kCounter, kGauge, kHistogram };

// The content types of the two formats, and the one an Accept header asks for.
inline constexpr std::string_view kTextContentType = "text/plain; version=0.0.4; charset=utf-8";
inline constexpr std::string_view kOpenMetricsContentType =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
Format negotiate(std::string_view accept);

// Renders {a="x",b="y"} with values escaped as the text format requires; "" for no labels.
std::string renderLabels(const Labels& labels);
// The same without the braces: a="x",b="y".
std::string renderLabelPairs(const Labels& labels);
// Appends a label value, escaped.
void appendEscaped(std::string& out, std::string_view value);

// Writes families. A family is begun with family() and gets samples until the next family();
// labels are given rendered, without braces (renderLabelPairs), or empty.
class Exposition final {
 public:
  explicit Exposition(Format format) : format_(format) {}
  // Counter names end in _total (the sample name); OpenMetrics' family name drops it.
  void family(std::string_view name, std::string_view help, Type type);
  void sample(std::string_view labels, std::uint64_t value);
  void sample(std::string_view labels, std::int64_t value);
  void sample(std::string_view labels, double value);
  void histogram(std::string_view labels, const HistogramValue& value);
  // The families in name order, and OpenMetrics' # EOF.
  std::string finish();

 private:
  void begin(std::string_view suffix, std::string_view labels);
  Format format_;
  std::string name_;
  std::string* out_ = nullptr;
  std::map<std::string, std::string> families_;
};

class Registry final {
 public:
  // Returns the series for (name, labels), creating it on first use. The name must carry the
  // "portico_" prefix; help and type are taken from the first registration of the name.
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help, const Buckets& buckets,
                       const Labels& labels = {});

  // A gauge family whose series come and go with the cluster's objects (one per certificate
  // and host): each call replaces every series of `name` with `rows`, so a series that is not
  // in `rows` any more disappears from the exposition. The name must not be registered with
  // gauge() or counter().
  void replaceGauges(const std::string& name, const std::string& help,
                     const std::vector<std::pair<Labels, std::int64_t>>& rows);

  // A callback that writes whole families at each scrape (from the scraping thread). Returns
  // an id for removeCollector(); the collector must stay callable until it is removed.
  using Collector = std::function<void(Exposition&)>;
  std::uint64_t addCollector(Collector collector);
  void removeCollector(std::uint64_t id);

  std::string expose(Format format = Format::kText) const;

 private:
  struct Family {
    std::string help;
    Type type = Type::kCounter;
    std::map<std::string, std::size_t> series;  // rendered label pairs -> index in its deque
  };
  Family& familyFor(const std::string& name, const std::string& help, Type type);
  mutable std::mutex mutex_;
  std::map<std::string, Family> families_;
  struct Replaced {
    std::string help;
    std::map<std::string, std::int64_t> series;  // rendered label pairs -> value
  };
  std::map<std::string, Replaced> replaced_;
  std::deque<Counter> counters_;
  std::deque<Gauge> gauges_;
  std::deque<Histogram> histograms_;
  std::map<std::uint64_t, Collector> collectors_;
  std::uint64_t next_collector_ = 1;
};

}  // namespace portico::metrics
