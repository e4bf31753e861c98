// The control path at scale, by number of Ingresses (DESIGN.md targets: 10,000 compile in under
// 200 ms; an EndpointSlice change reaches traffic within 100 ms on the 2-core machine):
// - BM_Compile: one compile of the whole state; BM_CompileWithTls: the same with every
//   Ingress serving its host over TLS;
// - BM_Bind: binding a new snapshot to the runtime state that survives swaps;
// - BM_EndpointChange: what one EndpointSlice event costs the controller: the change applied to
//   the source's state, the copy handed to the controller, the check that only slices differ,
//   the endpoints-only update on the last snapshot's routes, and the bind.
// make bench-scale measures the same path end to end, through test-apiserver.
#include "config/compiler.h"
#include "runtime/runtime_state.h"
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

// Every Ingress with TLS (its own Secret, checked): the compile adds the TLS hosts, and the
// redirect and HSTS policies on every route.
void BM_CompileWithTls(benchmark::State& st) {
  const int n = static_cast<int>(st.range(0));
  const auto state = syntheticState(n, /*tls=*/true);
  config::Options options;
  options.secret_checks = syntheticChecks(n);
  for (auto _ : st) {
    auto result = config::compile(state, options);
    benchmark::DoNotOptimize(result.snapshot.tlsHosts().size());
  }
  st.SetItemsProcessed(st.iterations() * st.range(0));
}
BENCHMARK(BM_CompileWithTls)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_Bind(benchmark::State& st) {
  const auto state = syntheticState(static_cast<int>(st.range(0)));
  auto snapshot =
      std::make_shared<const snapshot::Snapshot>(std::move(config::compile(state, {}).snapshot));
  runtime::RuntimeState runtime;
  runtime.bind(snapshot);
  for (auto _ : st) {
    auto config = runtime.bind(snapshot);
    benchmark::DoNotOptimize(config->generation);
  }
}
BENCHMARK(BM_Bind)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_EndpointChange(benchmark::State& st) {
  auto source = syntheticState(static_cast<int>(st.range(0)));
  runtime::RuntimeState runtime;
  auto compiled = config::compile(source, {});
  model::ClusterState compiled_state = source;
  auto last = std::make_shared<const snapshot::Snapshot>(std::move(compiled.snapshot));
  std::shared_ptr<const runtime::PublishedConfig> live = runtime.bind(last);
  model::EndpointSlice slice = source.endpoint_slices.begin()->second;
  int n = 0;
  for (auto _ : st) {
    slice.endpoints.front().conditions.ready = (++n % 2) == 0;
    source.upsert(slice);
    model::ClusterState handed = source;  // the source keeps its own, the controller gets one
    if (!config::onlyEndpointsDiffer(handed, compiled_state)) {
      st.SkipWithError("more than endpoints differ");
      break;
    }
    last = std::make_shared<const snapshot::Snapshot>(
        config::recompileEndpoints(*last, compiled.target_group_sources, handed));
    live = runtime.bind(last);
    compiled_state = std::move(handed);
    benchmark::DoNotOptimize(live->generation);
  }
}
BENCHMARK(BM_EndpointChange)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace portico::bench
