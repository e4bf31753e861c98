#pragma once
// Time and randomness, injected (DESIGN.md, CONVENTIONS.md rule 7): pools, the proxy server and
// every later timer-driven feature (health checks, EWMA, slow start, rate limits) read the
// Clock they are given, so tests move time by hand instead of sleeping.
//
// Threads: SystemClock and ManualClock may be read from any thread. A Random is used by one
// thread (each proxy worker has its own, seeded from Server's seed and its index).

#include <atomic>
#include <chrono>
#include <cstdint>

namespace portico {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::steady_clock::time_point now() const = 0;
  virtual std::chrono::system_clock::time_point wallNow() const = 0;
  // The process-wide real clock.
  static const Clock& system();
};

class SystemClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point now() const override {
    return std::chrono::steady_clock::now();
  }
  std::chrono::system_clock::time_point wallNow() const override {
    return std::chrono::system_clock::now();
  }
};

// A clock for tests: starts at an arbitrary fixed point and moves only when told.
class ManualClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point now() const override {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns_.load()));
  }
  std::chrono::system_clock::time_point wallNow() const override {
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(wall_ns_.load())));
  }
  void advance(std::chrono::nanoseconds d) {
    ns_.fetch_add(d.count());
    wall_ns_.fetch_add(d.count());
  }

 private:
  std::atomic<std::int64_t> ns_{1'000'000'000'000};
  std::atomic<std::int64_t> wall_ns_{1'700'000'000'000'000'000};
};

// A small, fast generator (splitmix64): request ids, jitter and random picks; not for secrets.
class Random final {
 public:
  explicit Random(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n), n > 0.
  std::uint64_t below(std::uint64_t n) { return next() % n; }

 private:
  std::uint64_t state_;
};

}  // namespace portico
