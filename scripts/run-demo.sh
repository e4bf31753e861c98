#!/usr/bin/env bash
# `make run`: two echo backends and portico on examples/quickstart, in the foreground.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
http_port=${PORTICO_HTTP_PORT:-8080}
admin_port=${PORTICO_ADMIN_PORT:-9090}
https_port=${PORTICO_HTTPS_PORT:-8443}

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

"$root/$build/tests/echo-backend" --port 9101 --name frontend >/dev/null &
pids+=($!)
"$root/$build/tests/echo-backend" --port 9102 --name api >/dev/null &
pids+=($!)
"$root/$build/src/portico" --manifests "$root/examples/quickstart" --bind 127.0.0.1 \
  --http-port "$http_port" --https-port "$https_port" --admin-port "$admin_port" --log-format text &
pids+=($!)

for _ in $(seq 1 100); do
  if curl -sf "http://127.0.0.1:$admin_port/readyz" >/dev/null 2>&1; then break; fi
  sleep 0.1
done

cat <<MSG

portico is serving examples/quickstart on http://127.0.0.1:$http_port (admin on :$admin_port).
Try:
  curl -s -H 'Host: shop.example.com' http://127.0.0.1:$http_port/            # -> frontend
  curl -s -H 'Host: shop.example.com' http://127.0.0.1:$http_port/api/orders  # -> api
  curl -s -H 'Host: shop.example.com' http://127.0.0.1:$http_port/apis        # -> frontend (Prefix is per path element)
  curl -s -H 'Host: api.example.com'  http://127.0.0.1:$http_port/anything    # -> api
  curl -si -H 'Host: other.example'   http://127.0.0.1:$http_port/            # -> 404
  curl -sk --resolve shop.example.com:$https_port:127.0.0.1 https://shop.example.com:$https_port/  # HTTPS, self-signed default certificate
  curl -s http://127.0.0.1:$admin_port/metrics
Edit examples/quickstart/*.yaml and the change reaches traffic within a second.
Ctrl-C stops everything.

MSG
wait "${pids[2]}"
