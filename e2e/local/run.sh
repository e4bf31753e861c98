#!/usr/bin/env bash
# End-to-end on this machine: test-apiserver + the real kubectl + portico + echo backends.
# kubectl applies and deletes objects; curl checks that traffic follows every change, and that
# a stopped API server or a forced relist (test-apiserver's fault hooks) loses nothing. The
# scenarios are e2e/scenarios.sh, shared with e2e/real. Prints "N passed, N failed".
#   e2e/local/run.sh [BUILD_DIR]        (API_DOWN_SECONDS, KEEP=1: see e2e/scenarios.sh)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/${1:-build}"
bin=$("$root/scripts/install-tools.sh")
work=$(mktemp -d /tmp/portico-e2e.XXXXXX)
export KUBECONFIG="$work/kubeconfig" KUBECACHEDIR="$work/kubecache"
# shellcheck source=../scenarios.sh
source "$root/e2e/scenarios.sh"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  [[ ${KEEP:-0} == 1 ]] || rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

api_port=$(free_port)
api_start() {
  "$build/tests/test-apiserver" --port "$api_port" --kubeconfig-out "$KUBECONFIG" \
    --data-dir "$work/api" --bookmark-interval-ms 1000 >"$work/api.out" 2>>"$work/api.log" &
  api_pid=$!
  pids+=("$api_pid")
  for _ in $(seq 1 100); do grep -q listening "$work/api.out" 2>/dev/null && return 0; sleep 0.1; done
  echo "test-apiserver did not start" >&2; exit 1
}
api_stop() { kill "$api_pid"; wait "$api_pid" 2>/dev/null; }
api_start
api_faults=1 api_protobuf=0
token=$(cat "$work/api/token")
api_test() { curl -s -k -X POST -H "Authorization: Bearer $token" "https://127.0.0.1:$api_port/_test/$1" >/dev/null; }

backend_ip=127.0.0.1
port_a=$(free_port); port_b=$(free_port)
"$build/tests/echo-backend" --port "$port_a" --name a >/dev/null & pids+=($!)
"$build/tests/echo-backend" --port "$port_b" --name b >/dev/null & pids+=($!)
http=$(free_port); admin=$(free_port)
status_ip_want=192.0.2.10
"$build/src/portico" --kubeconfig "$KUBECONFIG" --bind 127.0.0.1 --http-port "$http" \
  --https-port 0 --admin-port "$admin" --workers 2 --publish-status-address "$status_ip_want" \
  --log-format text >"$work/access.log" 2>"$work/portico.log" &
pids+=($!)

run_scenarios
summary e2e/local
