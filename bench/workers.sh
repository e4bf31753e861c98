#!/usr/bin/env bash
# Multi-worker distribution: portico with --workers 2 (one SO_REUSEPORT listener per worker), in
# front of an echo backend, loaded by wrk with many keep-alive connections. Prints each worker's
# share of the connections and requests (portico_worker_connections_accepted_total and
# portico_worker_requests_total) and the CPU time of each worker thread, so that an uneven
# spread shows. Nothing is pinned: on the 2-core machine wrk, the backend and both workers
# share the cores, so requests/s here is not a throughput figure (bench/run.sh is).
#
#   bench/workers.sh [BUILD_DIR]        (make bench-workers)
# Environment: DURATION (default 5s), CONNS (default 512), WORKERS (default 2).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
[[ $build == /* ]] || build="$root/$build"
duration=${DURATION:-5s}
conns=${CONNS:-512}
workers=${WORKERS:-2}
work=$(mktemp -d /tmp/portico-workers-bench.XXXXXX)
# shellcheck source=bench/common.sh
. "$root/bench/common.sh"
trap cleanup EXIT INT TERM

upstream_port=$(free_port)
"$build/tests/echo-backend" --port "$upstream_port" --name upstream >/dev/null 2>&1 &
pids+=($!)
mkdir -p "$work/manifests"
write_bench_manifest "$work/manifests/bench.yaml" "$upstream_port"
port=$(free_port); admin=$(free_port)
"$build/src/portico" --manifests "$work/manifests" --bind 127.0.0.1 --http-port "$port" \
  --https-port 0 --admin-port "$admin" --workers "$workers" --log-level warn --access-log-format=off \
  2>"$work/portico.log" &
portico=$!
pids+=("$portico")
wait_http "$port"
# The workers' threads: every thread of the process but the main one, whose CPU time grows
# under load; read before and after the run.
thread_ticks() {
  for t in /proc/"$portico"/task/*; do
    awk '{print FILENAME, $14 + $15}' "$t/stat"
  done | sed 's|/proc/[0-9]*/task/||; s|/stat||' | sort -n
}
before=$(thread_ticks)
out=$(ulimit -n "$(ulimit -Hn)"; wrk -t2 -c"$conns" -d"$duration" -H 'Host: bench.local' "http://127.0.0.1:$port/")
after=$(thread_ticks)
metrics=$(curl -s "http://127.0.0.1:$admin/metrics")

series() {  # series NAME WORKER
  echo "$metrics" | awk -v k="$1{worker=\"$2\"}" '$1 == k {print $2}'
}
total_c=0; total_r=0
for ((w = 0; w < workers; w++)); do
  total_c=$((total_c + $(series portico_worker_connections_accepted_total "$w")))
  total_r=$((total_r + $(series portico_worker_requests_total "$w")))
done
printf 'portico --workers %s, wrk -t2 -c%s -d%s: %s requests/s (all on 2 shared cores)\n' \
  "$workers" "$conns" "$duration" "$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
printf '%-8s %12s %8s %12s %8s\n' worker connections share requests share
min=100; max=0
for ((w = 0; w < workers; w++)); do
  c=$(series portico_worker_connections_accepted_total "$w")
  r=$(series portico_worker_requests_total "$w")
  share=$(awk -v r="$r" -v t="$total_r" 'BEGIN {printf "%.1f", 100 * r / t}')
  printf '%-8s %12s %7.1f%% %12s %7s%%\n' "$w" "$c" \
    "$(awk -v c="$c" -v t="$total_c" 'BEGIN {print 100 * c / t}')" "$r" "$share"
  min=$(awk -v a="$min" -v b="$share" 'BEGIN {print (b < a) ? b : a}')
  max=$(awk -v a="$max" -v b="$share" 'BEGIN {print (b > a) ? b : a}')
done
printf 'requests: smallest share / largest share = %s\n' \
  "$(awk -v a="$min" -v b="$max" 'BEGIN {printf "%.2f", a / b}')"
printf 'CPU seconds per thread during the run (threads with more than 0.05 s):\n'
join <(echo "$before") <(echo "$after") |
  awk -v hz="$(getconf CLK_TCK)" '{d = ($3 - $2) / hz; if (d > 0.05) printf "  thread %s: %.2f s\n", $1, d}'
