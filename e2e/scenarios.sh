# shellcheck shell=bash disable=SC2154  # the harness sets the variables listed below
# The end-to-end scenarios, defined once: e2e/local/run.sh runs them against test-apiserver and
# e2e/real/run.sh against a real kube-apiserver. Sourced by a harness that has started the API
# server and portico, and set:
#   bin          the directory of kubectl (KUBECONFIG names the admin's kubeconfig)
#   work         the run's scratch directory (kubectl.log, access.log are there)
#   http admin   portico's HTTP and admin ports on 127.0.0.1
#   backend_ip   the address the echo backends listen on (what EndpointSlices name)
#   port_a port_b  the ports of echo backends "a" and "b"
#   status_ip_want the address portico publishes in Ingress status
#   api_stop api_start  functions that stop the API server and start it again (same data)
#   lease_ns     the namespace of portico's Lease (default: default)
#   api_faults   1 when the server has test-apiserver's fault hooks (api_test NAME), else 0
#   api_protobuf (optional) 0 when the server reads JSON only (test-apiserver)
#   access_log_sync  (optional) a function that brings portico's stdout into $work/access.log
# run_scenarios runs them all; summary NAME prints "NAME: N passed, N failed" and fails if any.
# API_DOWN_SECONDS (default 60) is how long the API server stays away while traffic is checked.

passed=0
failed=0
kubectl() { "$bin/kubectl" "$@"; }
declare -F access_log_sync >/dev/null || access_log_sync() { :; }

# ---- checks -------------------------------------------------------------------------------
# got HOST PATH: the backend name that answered, or the status code.
got() {
  local body code
  body=$(curl -s -m 2 -w '\n%{http_code}' -H "Host: $1" "http://127.0.0.1:$http$2")
  code=${body##*$'\n'}
  if [[ $code == 200 ]]; then
    python3 -c 'import json,sys; print(json.loads(sys.argv[1])["name"])' "${body%$'\n'*}" 2>/dev/null
  else
    echo "$code"
  fi
}
pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; }
# expect NAME WANT HOST PATH: waits up to 10 s (wait_seconds) for the backend name (or status
# code) WANT.
expect() {
  local name=$1 want=$2 host=$3 path=$4 last=""
  for _ in $(seq 1 $((${wait_seconds:-10} * 10))); do
    last=$(got "$host" "$path")
    [[ $last == "$want" ]] && { pass "$name"; return 0; }
    sleep 0.1
  done
  fail "$name: wanted $want, got $last"
}
# expect_out NAME WANT COMMAND...: waits up to 10 s for the command to print WANT.
expect_out() {
  local name=$1 want=$2 last=""; shift 2
  for _ in $(seq 1 100); do
    last=$("$@" 2>/dev/null)
    [[ $last == "$want" ]] && { pass "$name"; return 0; }
    sleep 0.1
  done
  fail "$name: wanted '$want', got '$last'"
}
status_ip() { kubectl get ingress "$1" -o jsonpath='{.status.loadBalancer.ingress[*].ip}'; }
apply() { kubectl apply -f - >>"$work/kubectl.log" 2>&1 || echo "kubectl apply failed (see $work/kubectl.log)"; }
summary() {
  echo
  echo "$1: $passed passed, $failed failed"
  [[ $failed -eq 0 ]]
}

# ---- objects ------------------------------------------------------------------------------
service() {  # NAME PORT: a selector-less Service and one EndpointSlice at backend_ip:PORT
  cat <<YAML
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: default}
spec: {ports: [{name: http, port: 80, targetPort: http}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: $1-1, namespace: default, labels: {kubernetes.io/service-name: $1}}
addressType: IPv4
ports: [{name: http, port: $2}]
endpoints: [{addresses: ["$backend_ip"], conditions: {ready: true}}]
---
YAML
}
ingress() {  # NAME CLASS HOST PATH SERVICE
  cat <<YAML
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: $1, namespace: default}
spec:
  ingressClassName: $2
  rules:
  - host: $3
    http: {paths: [{path: "$4", pathType: Prefix, backend: {service: {name: $5, port: {number: 80}}}}]}
YAML
}
relists() {  # portico_watch_relists_total, all kinds
  curl -s "http://127.0.0.1:$admin/metrics" |
    awk '/^portico_watch_relists_total/ {s += $2} END {print s + 0}'
}
events_of() {  # NAME FIELD: a jsonpath field of the Events about object NAME in default
  kubectl get events --field-selector metadata.namespace=default \
    -o jsonpath="{.items[?(@.involvedObject.name==\"$1\")].$2}"
}

# ---- the scenarios ------------------------------------------------------------------------
run_scenarios() {
  cat <<YAML | apply
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: portico}
spec: {controller: portico.dev/ingress-controller}
YAML
  { service svc-a "$port_a"; service svc-b "$port_b"; ingress web portico web.test / svc-a; } | apply
  expect "new Ingress routes" a web.test /
  expect_out "our Ingress gets the status address" "$status_ip_want" status_ip web
  expect_out "the leader holds the lease" 1 \
    bash -c "'$bin/kubectl' -n ${lease_ns:-default} get lease portico-leader -o jsonpath='{.spec.holderIdentity}' | grep -c ."

  # The first Ingress of the chart's NOTES.txt and of docs/install.md, as a user types it.
  # kubectl create sends protobuf, which test-apiserver does not read: there it goes as YAML.
  local first=(create ingress first --class=portico --rule="first.test/*=svc-b:80")
  if [[ ${api_protobuf:-1} == 1 ]]; then
    kubectl "${first[@]}" >>"$work/kubectl.log" 2>&1
  else
    kubectl "${first[@]}" --dry-run=client -o yaml | apply
  fi
  expect "kubectl create ingress routes" b first.test /anything

  ingress web portico web.test /v2 svc-b | apply
  expect "changed path routes to the new backend" b web.test /v2/x
  expect "the old path is gone" 404 web.test /

  ingress web portico web.test / svc-a | apply
  service svc-a "$port_b" | apply
  expect "endpoint change reaches traffic" b web.test /
  service svc-a "$port_a" | apply
  expect "endpoint change back" a web.test /

  # An endpoint added (a second slice for svc-a, at backend b): both answer, in turn.
  cat <<YAML | apply
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: svc-a-2, namespace: default, labels: {kubernetes.io/service-name: svc-a}}
addressType: IPv4
ports: [{name: http, port: $port_b}]
endpoints: [{addresses: ["$backend_ip"], conditions: {ready: true}}]
YAML
  both() { local seen=""; for _ in 1 2 3 4; do seen+=$(got web.test /); done; [[ $seen == *a* && $seen == *b* ]] && echo both; }
  expect_out "an added endpoint takes traffic" both both
  kubectl delete endpointslice svc-a-2 >>"$work/kubectl.log" 2>&1
  only_a() { local seen=""; for _ in 1 2 3 4; do seen+=$(got web.test /); done; [[ $seen == aaaa ]] && echo only-a; }
  expect_out "a removed endpoint takes no more traffic" only-a only_a

  ingress foreign other-class foreign.test / svc-a | apply
  expect "Ingress of another class is ignored" 404 foreign.test /
  expect_out "Ingress of another class gets no status" "" status_ip foreign
  ingress web other-class web.test / svc-a | apply
  expect "Ingress that left our class stops routing" 404 web.test /
  expect_out "Ingress that left our class has its status cleared" "" status_ip web
  ingress web portico web.test / svc-a | apply
  expect "back in our class" a web.test /

  # Each request is one JSON line on portico's stdout, naming the Ingress and Service it took.
  logged_web() {
    access_log_sync
    python3 - "$work/access.log" <<'PY'
import json, sys
lines = []
for l in open(sys.argv[1]):
    try:
        lines.append(json.loads(l))
    except ValueError:
        pass  # a log line that is not JSON (e2e/kind reads stdout and stderr together)
print("yes" if any(l.get("host") == "web.test" and l.get("ingress") == "web" and l.get("service") == "svc-a"
                   and l.get("status") == 200 and l.get("upstream_status") == 200 for l in lines) else "no")
PY
  }
  expect_out "requests are access log lines with their Ingress and Service" yes logged_web

  kubectl delete ingress web >>"$work/kubectl.log" 2>&1
  expect "deleted Ingress stops routing" 404 web.test /

  ingress broken portico broken.test / no-such-service | apply
  expect_out "a bad Ingress gets a Warning Event" InvalidConfiguration events_of broken reason

  # TLS and backend problems are Events too, on the object to fix: an Ingress whose Secret's
  # key does not match its certificate, and a Service asking for a backend protocol portico
  # does not speak. (kubectl create secret tls refuses a mismatched pair: written as YAML.)
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=tls.test \
    -addext subjectAltName=DNS:tls.test -keyout "$work/k1.pem" -out "$work/c1.pem" 2>/dev/null
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/k2.pem" 2>/dev/null
  {
    printf 'apiVersion: v1\nkind: Secret\nmetadata: {name: mismatched, namespace: default}\n'
    printf 'type: kubernetes.io/tls\nstringData:\n  tls.crt: |\n'
    sed 's/^/    /' "$work/c1.pem"
    printf '  tls.key: |\n'
    sed 's/^/    /' "$work/k2.pem"
    printf -- '---\napiVersion: v1\nkind: Service\nmetadata:\n  name: grpc-svc\n  namespace: default\n'
    printf '  annotations: {portico.dev/backend-protocol: GRPC}\nspec: {ports: [{name: http, port: 80}]}\n'
    printf -- '---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: tls-bad, namespace: default}\n'
    printf 'spec:\n  ingressClassName: portico\n  tls: [{hosts: [tls.test], secretName: mismatched}]\n'
    printf '  rules:\n  - host: tls.test\n    http:\n      paths:\n'
    printf '      - {path: /, pathType: Prefix, backend: {service: {name: svc-a, port: {number: 80}}}}\n'
    printf '      - {path: /grpc, pathType: Prefix, backend: {service: {name: grpc-svc, port: {number: 80}}}}\n'
  } | apply
  mismatch() { events_of tls-bad message | grep -c 'Secret default/mismatched: tls.key does not match'; }
  expect_out "a Secret that cannot serve gets a Warning Event on its Ingress" 1 mismatch
  expect_out "a bad backend protocol gets a Warning Event on its Service" Service \
    events_of grpc-svc involvedObject.kind
  expect "its host still redirects plain HTTP to HTTPS (served on the default certificate)" 308 tls.test /

  # ALB routing through kubectl: a query condition sends to b before the plain rule, a fixed
  # response answers /down, a weighted forward with weight 0 on b sends all of /split to a, and
  # a condition that does not parse is a Warning Event naming the annotation (its rule left
  # out, the others routing).
  cat <<'YAML' | apply
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: alb
  namespace: default
  annotations:
    portico.dev/conditions.svc-b: '[{"field": "query-string", "queryStringConfig": {"values": [{"key": "canary", "value": "1"}]}}]'
    portico.dev/conditions.svc-c: '[{"field": "cookie"}]'
    portico.dev/actions.down: '{"type": "fixed-response", "fixedResponseConfig": {"statusCode": "503", "messageBody": "down"}}'
    portico.dev/actions.split: '{"type": "forward", "forwardConfig": {"targetGroups": [{"serviceName": "svc-a", "servicePort": 80, "weight": 1}, {"serviceName": "svc-b", "servicePort": 80, "weight": 0}]}}'
spec:
  ingressClassName: portico
  rules:
  - host: alb.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: svc-a, port: {number: 80}}}}
      - {path: /, pathType: Prefix, backend: {service: {name: svc-b, port: {number: 80}}}}
      - {path: /c, pathType: Prefix, backend: {service: {name: svc-c, port: {number: 80}}}}
      - {path: /down, pathType: Exact, backend: {service: {name: down, port: {name: use-annotation}}}}
      - {path: /split, pathType: Prefix, backend: {service: {name: split, port: {name: use-annotation}}}}
YAML
  expect "a query condition routes before the plain rule" b alb.test "/?canary=1"
  expect "without it, the plain rule" a alb.test "/?canary=2"
  expect "a fixed-response action answers itself" 503 alb.test /down
  split_seen() { local seen=""; for _ in 1 2 3 4 5 6; do seen+=$(got alb.test /split); done; echo "$seen"; }
  expect_out "a weight of 0 gets nothing" aaaaaa split_seen
  bad_condition() { events_of alb message | grep -c 'portico.dev/conditions.svc-c'; }
  expect_out "a condition that does not parse is a Warning Event naming its annotation" 1 bad_condition
  expect "the rule with the bad condition is left out, the others route" a alb.test /c

  # The API server goes away for API_DOWN_SECONDS: portico keeps routing on its last snapshot
  # (every request in that time is checked), then re-watches and misses nothing.
  ingress before portico web3-before.test / svc-a | apply
  expect "routes before the API server goes away" a web3-before.test /
  local relists_before
  relists_before=$(relists)
  api_stop
  local down=${API_DOWN_SECONDS:-60} end bad=0 n=0 last
  end=$((SECONDS + down))
  while ((SECONDS < end)); do
    last=$(got web3-before.test /)
    n=$((n + 1))
    [[ $last == a ]] || { bad=$((bad + 1)); echo "  while the API server was down: $last"; }
  done
  if ((bad == 0 && n > 0)); then
    pass "traffic flows while the API server is down ($n requests in ${down} s)"
  else
    fail "traffic while the API server was down: $bad of $n requests failed"
  fi
  api_start
  # After a long outage each reflector's retry waits up to 30 s, jittered up to twice that (as
  # client-go's), so the first change may take a minute to arrive.
  ingress web2 portico web2.test / svc-b | apply
  wait_seconds=90 expect "change after the API server came back" b web2.test /
  service svc-b "$port_a" | apply
  wait_seconds=90 expect "an endpoint change after the API server came back" a web2.test /
  # Each kind relists at most once or twice after a restart (a real one's watch cache starts
  # anew: 410 for older versions); a relist that brought back the lost version would loop.
  local relisted=$(($(relists) - relists_before))
  if ((relisted <= 10)); then
    pass "the watches resumed after $relisted relists"
  else
    fail "$relisted relists after the API server came back"
  fi
  service svc-b "$port_b" | apply

  if [[ $api_faults == 1 ]]; then
    # A forced relist: a change no watch reports, then every watch answered with 410 Expired.
    api_test drop-next-event
    ingress web3 portico web3.test / svc-a | apply
    api_test "expire-watches?count=10"
    api_test close-watches
    expect "a forced relist loses nothing" a web3.test /
  fi
}
