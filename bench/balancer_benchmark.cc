// The cost of one endpoint pick per algorithm, and of a weighted split, at 10 and 1,000
// endpoints; and of a route lookup that evaluates conditions. Each benchmark also reports
// allocs/pick, counted by the global operator new below: a pick must allocate nothing.
#include "lb/balancer.h"
#include "runtime/runtime_state.h"
#include "snapshot/snapshot.h"

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<std::uint64_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) {
    return p;
  }
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace portico::bench {
namespace {

constexpr std::int64_t kNow = 1'000'000'000'000;

std::shared_ptr<const runtime::PublishedConfig> configWith(snapshot::Algorithm algorithm, int n,
                                                           runtime::RuntimeState& rt) {
  snapshot::TargetGroup tg;
  tg.id = "ns/svc:80";
  for (int i = 0; i < n; ++i) {
    tg.endpoints.push_back(
        {"10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256), 8080});
  }
  std::sort(tg.endpoints.begin(), tg.endpoints.end());
  tg.settings.algorithm = algorithm;
  auto snapshot = std::make_shared<const snapshot::Snapshot>(std::vector<snapshot::TargetGroup>{tg},
                                                             std::vector<snapshot::VirtualHost>{},
                                                             snapshot::VirtualHost{});
  return rt.bind(snapshot);
}

void pickBenchmark(benchmark::State& st, snapshot::Algorithm algorithm) {
  runtime::RuntimeState rt;
  const auto config = configWith(algorithm, static_cast<int>(st.range(0)), rt);
  lb::Balancer balancer(42);
  balancer.rebind(nullptr, *config->snapshot);
  // Some load and latency, so least_request and ewma compare real numbers.
  for (std::size_t i = 0; i < config->target_groups[0].endpoints.size(); ++i) {
    auto& e = *config->target_groups[0].endpoints[i];
    e.active_requests = static_cast<std::uint32_t>(i % 7);
    e.ewma_ns = static_cast<std::int64_t>(1'000'000 + (i % 13) * 100'000);
  }
  std::uint64_t key = 0x9e3779b97f4a7c15ULL;
  const std::uint64_t before = g_allocations.load();
  for (auto _ : st) {
    key = key * 6364136223846793005ULL + 1442695040888963407ULL;
    auto* e = balancer.pick(0, config->target_groups[0], kNow, key);
    benchmark::DoNotOptimize(e);
  }
  st.counters["allocs/pick"] = benchmark::Counter(
      static_cast<double>(g_allocations.load() - before) / static_cast<double>(st.iterations()));
}

void BM_PickRoundRobin(benchmark::State& st) {
  pickBenchmark(st, snapshot::Algorithm::kRoundRobin);
}
void BM_PickRandom(benchmark::State& st) { pickBenchmark(st, snapshot::Algorithm::kRandom); }
void BM_PickLeastRequest(benchmark::State& st) {
  pickBenchmark(st, snapshot::Algorithm::kLeastRequest);
}
void BM_PickEwma(benchmark::State& st) { pickBenchmark(st, snapshot::Algorithm::kEwma); }
void BM_PickRingHash(benchmark::State& st) { pickBenchmark(st, snapshot::Algorithm::kRingHash); }
BENCHMARK(BM_PickRoundRobin)->Arg(10)->Arg(1000);
BENCHMARK(BM_PickRandom)->Arg(10)->Arg(1000);
BENCHMARK(BM_PickLeastRequest)->Arg(10)->Arg(1000);
BENCHMARK(BM_PickEwma)->Arg(10)->Arg(1000);
BENCHMARK(BM_PickRingHash)->Arg(10)->Arg(1000);

void BM_WeightedSplit(benchmark::State& st) {
  snapshot::Forward forward;
  for (std::uint32_t i = 0; i < static_cast<std::uint32_t>(st.range(0)); ++i) {
    forward.targets.push_back({i, 10 + i * 7, 100 + i});
  }
  lb::Balancer balancer;
  const std::uint64_t before = g_allocations.load();
  balancer.split(forward, 0, 0);  // the split state is made once, on first use
  for (auto _ : st) {
    benchmark::DoNotOptimize(balancer.split(forward, 0, 0));
  }
  st.counters["allocs/pick"] =
      benchmark::Counter(static_cast<double>(g_allocations.load() - before - 2) /
                         static_cast<double>(st.iterations()));
}
BENCHMARK(BM_WeightedSplit)->Arg(2)->Arg(5);

}  // namespace
}  // namespace portico::bench
