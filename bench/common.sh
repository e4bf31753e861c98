# shellcheck shell=bash disable=SC2154  # work is set by the script that sources this
# Shared by the benchmark scripts (sourced): ports, waiting for a listener, the bench Ingress,
# and the cleanup they trap on exit (it stops what they put in pids and removes $work).
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {  # until something answers HTTP on 127.0.0.1:$1 (10 s at most)
  for _ in $(seq 1 200); do
    if curl -s -o /dev/null "http://127.0.0.1:$1/" -H 'Host: bench.local'; then return 0; fi
    sleep 0.05
  done
  echo "nothing answers on port $1" >&2; exit 1
}
# start_upstream PORT [CPU]: the upstream every benchmark proxies to, an nginx worker answering
# a 24-byte body, in $work/upstream (pinned to CPU when given); waits until it answers.
start_upstream() {
  mkdir -p "$work/upstream"
  cat > "$work/upstream/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/upstream/nginx.pid;
error_log $work/upstream/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$1 reuseport backlog=4096;
    location / { default_type text/plain; return 200 "hello from the upstream\n"; }
  }
}
CONF
  ${2:+taskset -c "$2"} nginx -c "$work/upstream/nginx.conf" -p "$work/upstream" &
  pids+=($!)
  wait_http "$1"
}
# write_bench_manifest FILE UPSTREAM_PORT: Service, EndpointSlice and Ingress routing
# bench.local to the upstream. ROUTING=alb (environment) routes it the ALB way instead: a rule
# with header and query conditions that every request fails, then a 70/30 forward to two
# Services of the same upstream, so each request evaluates conditions and a weighted split
# (the plain Ingress then serves another host).
write_bench_manifest() {
  local upstream_port=$2 host=bench.local
  [[ ${ROUTING:-plain} == alb ]] && host=plain.bench.local
  cat > "$1" <<YAML
apiVersion: v1
kind: Service
metadata: {name: upstream, namespace: bench}
spec: {ports: [{name: http, port: 80, targetPort: $upstream_port}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: upstream-1, namespace: bench, labels: {kubernetes.io/service-name: upstream}}
addressType: IPv4
ports: [{name: http, port: $upstream_port}]
endpoints: [{addresses: ["127.0.0.1"], conditions: {ready: true}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: bench, namespace: bench}
spec:
  ingressClassName: portico
  rules:
  - host: $host
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: upstream, port: {number: 80}}}}]}
YAML
  [[ ${ROUTING:-plain} == alb ]] || return 0
  cat >> "$1" <<YAML
---
apiVersion: v1
kind: Service
metadata: {name: upstream-b, namespace: bench}
spec: {ports: [{name: http, port: 80, targetPort: $upstream_port}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: upstream-b-1, namespace: bench, labels: {kubernetes.io/service-name: upstream-b}}
addressType: IPv4
ports: [{name: http, port: $upstream_port}]
endpoints: [{addresses: ["127.0.0.1"], conditions: {ready: true}}]
---
apiVersion: v1
kind: Service
metadata: {name: canary, namespace: bench}
spec: {ports: [{name: http, port: 80, targetPort: $upstream_port}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: bench-alb
  namespace: bench
  annotations:
    portico.dev/conditions.canary: >-
      [{"field": "http-header", "httpHeaderConfig": {"httpHeaderName": "X-Canary", "values": ["yes", "beta-*"]}},
       {"field": "query-string", "queryStringConfig": {"values": [{"key": "canary"}]}}]
    portico.dev/actions.split: >-
      {"type": "forward", "forwardConfig": {"targetGroups": [
        {"serviceName": "upstream", "servicePort": 80, "weight": 70},
        {"serviceName": "upstream-b", "servicePort": 80, "weight": 30}]}}
spec:
  ingressClassName: portico
  rules:
  - host: bench.local
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: canary, port: {number: 80}}}}
      - {path: /, pathType: Prefix, backend: {service: {name: split, port: {name: use-annotation}}}}
YAML
}
