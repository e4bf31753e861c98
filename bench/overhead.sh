#!/usr/bin/env bash
# What metrics and access logs cost: portico with them on (per-route metrics, a JSON access log
# written to a file) against portico with them off (--enable-metrics=false
# --access-log-format=off), alternating in ROUNDS rounds in one sitting so that the VM's drift
# hits both alike, keep-alive (64 connections) and a new connection per request. Prints the
# median requests/s and CPU per request of each, and the ratios on/off (target: above 0.95).
#
#   bench/overhead.sh [BUILD_DIR]       (make bench-overhead)
# Environment: DURATION (default 5s), ROUNDS (default 5), PIN (default 1: portico on CPU 1,
# wrk and the upstream on CPU 0), BEFORE (a portico binary without these features, such as the
# commit before them, measured in the same rounds; its flags are the defaults of its time).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
portico_bin="$root/$build/src/portico"
duration=${DURATION:-5s}
rounds=${ROUNDS:-5}
pin=${PIN:-1}
before=${BEFORE:-}
work=$(mktemp -d /tmp/portico-overhead.XXXXXX)
# shellcheck source=bench/common.sh
. "$root/bench/common.sh"
trap cleanup EXIT INT TERM
cpu() { if [[ $pin == 1 ]]; then echo "taskset -c $1"; fi; }

upstream_port=$(free_port)
mkdir -p "$work/upstream" "$work/manifests"
start_upstream "$upstream_port" "$([[ $pin == 1 ]] && echo 0)"
write_bench_manifest "$work/manifests/b.yaml" "$upstream_port"

port=$(free_port)
admin=$(free_port)
# measure NAME BINARY FLAGS...: one portico run per scenario; appends "name scenario rps cpu_us".
measure() {
  local name=$1 bin=$2; shift 2
  local s extra
  for s in keepalive-64 new-connection-64; do
    extra=()
    [[ $s == new-connection-* ]] && extra=(-H "Connection: close")
    $(cpu 1) "$bin" --manifests "$work/manifests" --bind 127.0.0.1 --http-port "$port" \
      --https-port 0 --admin-port "$admin" --workers 1 --log-level warn "$@" \
      >>"$work/access-$name.log" 2>>"$work/portico.log" &
    local pid=$!
    pids+=("$pid")
    wait_http "$port"
    $(cpu 0) wrk -t1 -c16 -d1s -H 'Host: bench.local' "${extra[@]}" "http://127.0.0.1:$port/" >/dev/null
    local t0 t1 out
    t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    out=$($(cpu 0) wrk -t1 -c64 -d"$duration" -H 'Host: bench.local' "${extra[@]}" \
            "http://127.0.0.1:$port/" 2>&1)
    t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    python3 - "$name" "$s" "$out" "$t0" "$t1" "$(getconf CLK_TCK)" >>"$work/results" <<'PY'
import re, sys
name, scenario, out, t0, t1, hz = sys.argv[1], sys.argv[2], sys.argv[3], *map(float, sys.argv[4:])
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
total = int(re.search(r"(\d+) requests in", out).group(1))
print(name, scenario, f"{rps:.0f}", f"{(t1 - t0) / hz * 1e6 / max(total, 1):.2f}")
PY
  done
}

for r in $(seq 1 "$rounds"); do
  echo "round $r/$rounds" >&2
  measure off "$portico_bin" --enable-metrics=false --access-log-format=off
  measure on "$portico_bin" --access-log-format=json
  if [[ -n $before ]]; then
    measure before "$before"
  fi
done

lines=$(wc -l <"$work/access-on.log")
python3 - "$work/results" "$duration" "$rounds" "$lines" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = {}
for name, scenario, rps, cpu in rows:
    med.setdefault((name, scenario), ([], []))
    med[(name, scenario)][0].append(float(rps))
    med[(name, scenario)][1].append(float(cpu))
print(f"\nportico metrics and access log overhead: {sys.argv[3]} rounds of {sys.argv[2]}, wrk -t1 "
      f"-c64, one worker (medians)")
print(f"{'scenario':<18} {'config':<7} {'requests/s':>10} {'CPU us/req':>10}")
for (name, scenario), (rps, cpu) in sorted(med.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    print(f"{scenario:<18} {name:<7} {statistics.median(rps):>10.0f} {statistics.median(cpu):>10.2f}")
print("\nratios on/off (requests/s: higher is better, target > 0.95; CPU per request: lower is better)")
for scenario in sorted({s for _, s in med}):
    on, off = med[("on", scenario)], med[("off", scenario)]
    print(f"{scenario:<18} requests/s x{statistics.median(on[0]) / statistics.median(off[0]):.3f}"
          f"  CPU/request x{statistics.median(on[1]) / statistics.median(off[1]):.3f}")
    if ("before", scenario) in med:
        b = med[("before", scenario)]
        print(f"{scenario:<18} off/before requests/s x{statistics.median(off[0]) / statistics.median(b[0]):.3f}"
              f"  on/before x{statistics.median(on[0]) / statistics.median(b[0]):.3f}")
print(f"(access log lines written with them on: {sys.argv[4]})")
PY
