#!/usr/bin/env bash
# Proxy benchmark: portico, nginx and HAProxy side by side, one worker each, in front of the same
# upstream (an nginx answering a small static body), loaded in turn by wrk:
#   keep-alive with 64 and 256 connections, and a new connection per request; then the same
#   over HTTPS (keep-alive with 64 connections, and a new TLS connection per request), each
#   proxy terminating TLS with the same ECDSA P-256 certificate, protocols and ciphers. wrk
#   resumes its TLS sessions on reconnect (SSL_clear keeps them), so https-new-connection
#   measures mostly resumed handshakes; https-full-handshake restarts each proxy with session
#   resumption off (portico --tls-session-tickets=false, nginx ssl_session_tickets off, HAProxy
#   no-tls-tickets and no session cache) so that every handshake is a full one.
# Prints requests/s, p50/p99 latency and resident memory of each proxy, and portico's ratios.
#
#   bench/run.sh [BUILD_DIR]        (make bench)
# Environment: DURATION (default 10s), CONNS (default "64 256"), PIN (default 1: proxy on
# CPU 1, wrk and upstream on CPU 0), PORTICO_BIN (default BUILD_DIR/src/portico: to measure
# another build, such as the commit before a change, in the same sitting), TLS (default 1; 0
# leaves the HTTPS profiles out, for builds older than portico's HTTPS listener), FULL (default
# 1; 0 leaves https-full-handshake out, for builds without --tls-session-tickets), ROUTING
# (default plain; alb: conditions and a weighted split on every request, see bench/common.sh),
# PORTICO_FLAGS (default --access-log-format=off, as nginx's access_log off and HAProxy without
# a log target here; "--access-log-format=json" measures portico as it ships, its log written to
# a file; "--enable-metrics=false --access-log-format=off" without per-route metrics; empty for
# builds older than these flags).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
portico_bin=${PORTICO_BIN:-$build/src/portico}
[[ $portico_bin == /* ]] || portico_bin="$root/$portico_bin"
duration=${DURATION:-10s}
conns=${CONNS:-"64 256"}
pin=${PIN:-1}
tls=${TLS:-1}
full=${FULL:-1}
portico_flags=${PORTICO_FLAGS---access-log-format=off}
[[ $tls == 1 ]] || full=0
work=$(mktemp -d /tmp/portico-bench.XXXXXX)
# shellcheck source=bench/common.sh
. "$root/bench/common.sh"
trap cleanup EXIT INT TERM

cpu() { if [[ $pin == 1 ]]; then echo "taskset -c $1"; fi; }
cpu_ticks() {  # "utime stime" of a process and its children (nginx master + worker)
  local user=0 sys=0 u s
  for p in $1 $(pgrep -P "$1" || true); do
    read -r u s < <(awk '{print $14, $15}' "/proc/$p/stat" 2>/dev/null || echo 0 0)
    user=$((user + u)); sys=$((sys + s))
  done
  echo "$user $sys"
}
rss_kib() {  # the sum over a process and its children (nginx master + worker)
  local total=0
  for p in $1 $(pgrep -P "$1" || true); do
    total=$((total + $(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  echo $total
}

upstream_port=$(free_port)
mkdir -p "$work/upstream" "$work/nginx" "$work/manifests"
start_upstream "$upstream_port" "$([[ $pin == 1 ]] && echo 0)"

# --- the three proxies, each configured to the same job -------------------------------------
portico_port=$(free_port); portico_admin=$(free_port); portico_tls_port=$(free_port)
write_bench_manifest "$work/manifests/bench.yaml" "$upstream_port"

# One certificate for all three: ECDSA P-256, TLS 1.2 and 1.3, portico's default cipher list.
# wrk connects to 127.0.0.1 (no SNI name), so portico serves it as --default-ssl-certificate.
tls_ciphers="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
mkdir -p "$work/tls"
if [[ $tls == 1 ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=bench.local -addext subjectAltName=DNS:bench.local \
    -keyout "$work/tls/key.pem" -out "$work/tls/cert.pem" 2>/dev/null
  cat "$work/tls/cert.pem" "$work/tls/key.pem" > "$work/tls/bench.pem"
  {
    printf 'apiVersion: v1\nkind: Secret\nmetadata: {name: bench-tls, namespace: bench}\n'
    printf 'type: kubernetes.io/tls\nstringData:\n  tls.crt: |\n'
    sed 's/^/    /' "$work/tls/cert.pem"
    printf '  tls.key: |\n'
    sed 's/^/    /' "$work/tls/key.pem"
  } > "$work/manifests/bench-tls.yaml"
fi
portico_tls_flags=(--https-port 0)
[[ $tls == 1 ]] && portico_tls_flags=(--https-port "$portico_tls_port"
                                      --default-ssl-certificate bench/bench-tls)

nginx_port=$(free_port); nginx_tls_port=$(free_port)
nginx_tls_server=""
[[ $tls == 1 ]] && nginx_tls_server="
  server {
    listen 127.0.0.1:$nginx_tls_port ssl reuseport backlog=4096;
    ssl_certificate $work/tls/cert.pem;
    ssl_certificate_key $work/tls/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers $tls_ciphers;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream backend { server 127.0.0.1:$upstream_port; keepalive 512; }
  server {
    listen 127.0.0.1:$nginx_port reuseport backlog=4096;
    server_name bench.local;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }$nginx_tls_server
}
CONF

haproxy_port=$(free_port); haproxy_tls_port=$(free_port)
haproxy_tls_frontend=""
[[ $tls == 1 ]] && haproxy_tls_frontend="frontend fe_tls
  bind 127.0.0.1:$haproxy_tls_port ssl crt $work/tls/bench.pem alpn http/1.1 ssl-min-ver TLSv1.2 ciphers $tls_ciphers
  default_backend be"
cat > "$work/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 4000
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option forwardfor
  http-reuse always
frontend fe
  bind 127.0.0.1:$haproxy_port
  default_backend be
$haproxy_tls_frontend
backend be
  server up 127.0.0.1:$upstream_port
CONF

# The same proxies with TLS session resumption off (https-full-handshake).
sed 's|ssl_ciphers \(.*\);|ssl_ciphers \1;\n    ssl_session_tickets off;\n    ssl_session_cache off;|' \
  "$work/nginx/nginx.conf" > "$work/nginx/nginx-full.conf"
sed -e 's|^  nbthread 1$|  nbthread 1\n  tune.ssl.cachesize 0|' -e 's|alpn http/1.1|alpn http/1.1 no-tls-tickets|' \
  "$work/haproxy.cfg" > "$work/haproxy-full.cfg"

# start_proxy NAME [full]: "full" turns TLS session resumption off.
start_proxy() {
  local variant=${2:-}
  # shellcheck disable=SC2086 # $portico_flags: several flags, split on purpose
  case $1 in
    portico) $(cpu 1) "$portico_bin" --manifests "$work/manifests" --bind 127.0.0.1 \
               --http-port "$portico_port" "${portico_tls_flags[@]}" --admin-port "$portico_admin" --workers 1 \
               ${variant:+--tls-session-tickets=false} --log-level warn $portico_flags \
               >"$work/access.log" 2>"$work/portico.log" & ;;
    nginx)   $(cpu 1) nginx -c "$work/nginx/nginx${variant:+-full}.conf" -p "$work/nginx" & ;;
    haproxy) $(cpu 1) haproxy -f "$work/haproxy${variant:+-full}.cfg" -db & ;;
  esac
  proxy_pid=$!
  pids+=("$proxy_pid")
}
port_of() { case $1 in portico) echo "$portico_port";; nginx) echo "$nginx_port";; haproxy) echo "$haproxy_port";; esac; }
tls_port_of() { case $1 in portico) echo "$portico_tls_port";; nginx) echo "$nginx_tls_port";; haproxy) echo "$haproxy_tls_port";; esac; }

# wrk output -> "rps p50_ms p99_ms errors cpu_us_per_request user_us sys_us core_share"
run_wrk() {
  # $3: "close" sends Connection: close (a new connection per request). wrk takes -H values
  # only in the "Name: value" form: a header without the space is dropped silently.
  local port=$1 c=$2 close=$3 scheme=${4:-http}
  local extra=()
  [[ $close == close ]] && extra=(-H "Connection: close")
  local out before after t0 t1
  before=$(cpu_ticks "$proxy_pid")
  t0=$(date +%s.%N)
  out=$($(cpu 0) wrk -t1 -c"$c" -d"$duration" --latency -H 'Host: bench.local' "${extra[@]}" \
          "$scheme://127.0.0.1:$port/" 2>&1)
  t1=$(date +%s.%N)
  after=$(cpu_ticks "$proxy_pid")
  echo "$out" > "$work/wrk.last"
  python3 - "$out" "$before" "$after" "$(getconf CLK_TCK)" "$t0" "$t1" <<'PY'
import re, sys
out = sys.argv[1]
(u0, s0), (u1, s1) = (map(int, a.split()) for a in sys.argv[2:4])
hz, elapsed = int(sys.argv[4]), float(sys.argv[6]) - float(sys.argv[5])
user, system = u1 - u0, s1 - s0
def ms(s):
    m = re.match(r"([\d.]+)(us|ms|s)", s)
    v = float(m.group(1)); u = m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
p50 = ms(re.search(r"\s50%\s+(\S+)", out).group(1))
p99 = ms(re.search(r"\s99%\s+(\S+)", out).group(1))
err = 0
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
if m: err += sum(int(x) for x in m.groups())
m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
if m: err += int(m.group(1))
total = int(re.search(r"(\d+) requests in", out).group(1))
per = 1e6 / hz / max(total, 1)
core = (user + system) / hz / elapsed  # the proxy's share of its core over the run
print(f"{rps:.0f} {p50:.3f} {p99:.3f} {err} {(user + system) * per:.1f} {user * per:.1f} "
      f"{system * per:.1f} {core:.2f}")
PY
}

declare -A result
scenarios=()
for c in $conns; do scenarios+=("keepalive-$c"); done
scenarios+=("new-connection-64")
[[ $tls == 1 ]] && scenarios+=("https-keepalive-64" "https-new-connection-64")
all_scenarios=("${scenarios[@]}")
[[ $full == 1 ]] && all_scenarios+=("https-full-handshake-64")

for proxy in portico nginx haproxy; do
  start_proxy $proxy
  port=$(port_of $proxy)
  wait_http "$port"
  result[$proxy,idle_rss]=$(rss_kib "$proxy_pid")
  for s in "${scenarios[@]}"; do
    c=${s##*-}
    conn=keep
    [[ $s == *new-connection-* ]] && conn=close
    p=$port scheme=http
    [[ $s == https-* ]] && p=$(tls_port_of $proxy) scheme=https
    run_wrk "$p" 16 "$conn" "$scheme" >/dev/null  # warm-up: pools, caches
    result[$proxy,$s]=$(run_wrk "$p" "$c" "$conn" "$scheme")
    result[$proxy,$s,rss]=$(rss_kib "$proxy_pid")
  done
  if [[ $proxy == portico && $tls == 1 ]]; then
    m=$(curl -s "http://127.0.0.1:$portico_admin/metrics")
    result[portico,handshakes]=$(awk '$1 == "portico_tls_handshakes_total" {print $2}' <<<"$m")
    result[portico,resumed]=$(awk '$1 == "portico_tls_resumed_handshakes_total" {print $2}' <<<"$m")
  fi
  kill "$proxy_pid"; wait "$proxy_pid" 2>/dev/null || true
  if [[ $full == 1 ]]; then
    start_proxy $proxy full
    wait_http "$port"
    s=https-full-handshake-64
    p=$(tls_port_of $proxy)
    run_wrk "$p" 16 close https >/dev/null
    result[$proxy,$s]=$(run_wrk "$p" 64 close https)
    result[$proxy,$s,rss]=$(rss_kib "$proxy_pid")
    kill "$proxy_pid"; wait "$proxy_pid" 2>/dev/null || true
  fi
done

printf '\nportico bench: %s per run, wrk -t1, one proxy worker each%s\n' "$duration" \
  "$([[ $pin == 1 ]] && echo ', proxy pinned to CPU 1, wrk and upstream to CPU 0')"
printf '%-18s %-8s %10s %7s %7s %6s %7s %6s %6s %5s %7s\n' scenario proxy "requests/s" \
  "p50 ms" "p99 ms" errors "CPU us" user sys core "RSS MiB"
for s in "${all_scenarios[@]}"; do
  for proxy in portico nginx haproxy; do
    read -r rps p50 p99 err cpu user sys core <<<"${result[$proxy,$s]}"
    printf '%-18s %-8s %10s %7s %7s %6s %7s %6s %6s %5s %7.1f\n' "$s" "$proxy" "$rps" "$p50" \
      "$p99" "$err" "$cpu" "$user" "$sys" "$core" "$(echo "${result[$proxy,$s,rss]} / 1024" | bc -l)"
  done
done
echo "(CPU us = user + sys: the proxy's CPU time per request, from /proc/PID/stat; core: its share"
echo " of its one core over the run; a proxy well below 0.9 was bound by the load generator)"
printf '\nratios (portico / other): requests/s higher is better; p99 and CPU per request lower is better\n'
for s in "${all_scenarios[@]}"; do
  read -r prps _ pp99 _ pcpu puser _ <<<"${result[portico,$s]}"
  for other in nginx haproxy; do
    read -r orps _ op99 _ ocpu ouser _ <<<"${result[$other,$s]}"
    printf '%-18s vs %-8s requests/s x%.2f  p99 x%.2f  CPU/request x%.2f  user CPU x%.2f\n' \
      "$s" "$other" "$(echo "$prps / $orps" | bc -l)" "$(echo "$pp99 / $op99" | bc -l)" \
      "$(echo "$pcpu / $ocpu" | bc -l)" "$(echo "$puser / $ouser" | bc -l)"
  done
done
if [[ $tls == 1 && -n ${result[portico,handshakes]:-} ]]; then
  printf '\nportico TLS handshakes (keep-alive and new-connection runs, warm-ups included): %s, of which resumed: %s\n' \
    "${result[portico,handshakes]}" "${result[portico,resumed]:-not counted by this build}"
fi
printf '\nidle RSS MiB: portico %.1f, nginx %.1f (master+worker), haproxy %.1f\n' \
  "$(echo "${result[portico,idle_rss]} / 1024" | bc -l)" \
  "$(echo "${result[nginx,idle_rss]} / 1024" | bc -l)" \
  "$(echo "${result[haproxy,idle_rss]} / 1024" | bc -l)"
