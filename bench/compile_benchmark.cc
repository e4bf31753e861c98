// Compile time of the whole state, by number of Ingresses (DESIGN.md target: 10,000 in under
// 200 ms on the 2-core machine).
#include "config/compiler.h"
#include "synthetic_state.h"

#include <benchmark/benchmark.h>

namespace portico::bench {
namespace {

void BM_Compile(benchmark::State& st) {
  const auto state = syntheticState(static_cast<int>(st.range(0)));
  for (auto _ : st) {
    auto result = config::compile(state, {});
    benchmark::DoNotOptimize(result.snapshot.routeCount());
  }
  st.SetItemsProcessed(st.iterations() * st.range(0));
}
BENCHMARK(BM_Compile)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace portico::bench
