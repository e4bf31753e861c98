// Route lookup cost on a compiled snapshot, by number of Ingresses (one host each).
#include "config/compiler.h"
#include "synthetic_state.h"

#include <benchmark/benchmark.h>

namespace portico::bench {
namespace {

void BM_LookupExactHost(benchmark::State& st) {
  const auto result = config::compile(syntheticState(static_cast<int>(st.range(0))), {});
  const std::string host = "host" + std::to_string(st.range(0) / 2) + ".example.com:8080";
  for (auto _ : st) {
    auto m = result.snapshot.lookup(host, "/api/v1/orders");
    benchmark::DoNotOptimize(m.target_group);
  }
}
BENCHMARK(BM_LookupExactHost)->Arg(10)->Arg(1000)->Arg(10000);

void BM_LookupUnknownHost404(benchmark::State& st) {
  const auto result = config::compile(syntheticState(static_cast<int>(st.range(0))), {});
  for (auto _ : st) {
    auto m = result.snapshot.lookup("nobody.example.org", "/x");
    benchmark::DoNotOptimize(m.target_group);
  }
}
BENCHMARK(BM_LookupUnknownHost404)->Arg(10)->Arg(10000);

}  // namespace
}  // namespace portico::bench
