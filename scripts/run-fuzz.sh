#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each, from its checked-in seed corpus
# (tests/fuzz/corpus/<target>/), into a working corpus under the build directory that grows
# from run to run. A crash leaves its input in BUILD/fuzz-artifacts/ and fails the run.
#   scripts/run-fuzz.sh BUILD_DIR SECONDS
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-fuzz}
seconds=${2:-60}
passed=0
failed=0
mkdir -p "$build/fuzz-artifacts"
for bin in "$build"/tests/fuzz/*_fuzz; do
  name=$(basename "$bin" _fuzz)
  seeds="$root/tests/fuzz/corpus/$name"
  work="$build/fuzz-corpus/$name"
  mkdir -p "$work"
  echo "fuzz: $name for ${seconds}s"
  if "$bin" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/" \
       "$work" "$seeds" > "$build/fuzz-$name.log" 2>&1; then
    passed=$((passed + 1))
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$build/fuzz-$name.log" || true
  else
    failed=$((failed + 1))
    tail -40 "$build/fuzz-$name.log"
  fi
done
echo "fuzz: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
