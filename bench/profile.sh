#!/usr/bin/env bash
# Where portico's CPU goes under load: perf record on the worker while wrk drives keep-alive
# requests through it (the same upstream, pinning and load as bench/run.sh), then the
# user-space share, the kernel's, and the top user-space symbols (self time).
#
#   bench/profile.sh [BUILD_DIR]        (make bench-profile)
# Environment: DURATION (default 10s), CONNS (default 64), PORTICO_BIN, TOP (default 40).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
portico_bin=${PORTICO_BIN:-$build/src/portico}
[[ $portico_bin == /* ]] || portico_bin="$root/$portico_bin"
duration=${DURATION:-10s}
conns=${CONNS:-64}
top=${TOP:-40}
work=$(mktemp -d /tmp/portico-profile.XXXXXX)
# shellcheck source=bench/common.sh
. "$root/bench/common.sh"
trap cleanup EXIT INT TERM

upstream_port=$(free_port); port=$(free_port); admin=$(free_port)
mkdir -p "$work/upstream" "$work/manifests"
start_upstream "$upstream_port" 0
write_bench_manifest "$work/manifests/bench.yaml" "$upstream_port"
taskset -c 1 "$portico_bin" --manifests "$work/manifests" --bind 127.0.0.1 --http-port "$port" \
  --https-port 0 --admin-port "$admin" --workers 1 --log-level warn --access-log-format=off \
  2>"$work/portico.log" &
portico_pid=$!
pids+=("$portico_pid")
wait_http "$port"
taskset -c 0 wrk -t1 -c16 -d2s -H 'Host: bench.local' "http://127.0.0.1:$port/" >/dev/null
taskset -c 0 wrk -t1 -c"$conns" -d"$duration" -H 'Host: bench.local' \
  "http://127.0.0.1:$port/" > "$work/wrk.out" &
wrk_pid=$!
perf record -q -e cpu-clock -g -p "$portico_pid" -o "$work/perf.data" -- sleep "${duration%s}" \
  2>/dev/null
wait "$wrk_pid"
grep -E "Requests/sec" "$work/wrk.out"
perf report -i "$work/perf.data" --no-children --sort dso -q -g none 2>/dev/null | grep -v "^$" | head -8
echo "--- top user-space symbols (self, % of all samples)"
perf report -i "$work/perf.data" --no-children --sort sym -q -g none 2>/dev/null |
  grep -v '\[k\]' | head -"$top"
