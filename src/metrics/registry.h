#pragma once
// A small Prometheus registry: counters and gauges with fixed label sets, exposed in the text
// format (version 0.0.4). Hand-written because prometheus-cpp is not packaged by Debian.
//
// Threads: metrics are registered at start-up or from the control thread (a mutex guards the
// registry); the returned references stay valid for the registry's lifetime and are updated
// lock-free (relaxed atomics) from any thread.

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
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

class Registry final {
 public:
  // Returns the series for (name, labels), creating it on first use. The name must carry the
  // "portico_" prefix; help and type are taken from the first registration of the name.
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});

  // A gauge family whose series come and go with the cluster's objects (one per certificate
  // and host): each call replaces every series of `name` with `rows`, so a series that is not
  // in `rows` any more disappears from the exposition. The name must not be registered with
  // gauge() or counter().
  void replaceGauges(const std::string& name, const std::string& help,
                     const std::vector<std::pair<Labels, std::int64_t>>& rows);

  // Prometheus text exposition of every series, families sorted by name.
  std::string expose() const;

 private:
  struct Family {
    std::string help;
    bool is_counter = true;
    std::map<std::string, std::size_t> series;  // rendered labels -> index in counters_/gauges_
  };
  mutable std::mutex mutex_;
  std::map<std::string, Family> families_;
  struct Replaced {
    std::string help;
    std::map<std::string, std::int64_t> series;  // rendered labels -> value
  };
  std::map<std::string, Replaced> replaced_;
  std::deque<Counter> counters_;
  std::deque<Gauge> gauges_;
};

// Renders {a="x",b="y"} with values escaped as the text format requires.
std::string renderLabels(const Labels& labels);

}  // namespace portico::metrics
