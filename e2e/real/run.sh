#!/usr/bin/env bash
# End-to-end against a real control plane, as controller-runtime's envtest runs one: etcd and
# kube-apiserver built from the Go module proxy (scripts/build-kube.sh), on loopback, with their
# own CA and serving certificate, RBAC, service-account signing keys and an admin identity.
# portico runs under a token of the ServiceAccount the Helm chart makes, bound only by the RBAC
# the chart renders (helm install of charts/portico), never as admin; then the chart is
# installed, upgraded and uninstalled with other values, so that every object it renders
# passes the real server's validation (prometheus-operator's CRDs applied first).
# The real server refuses loopback addresses in EndpointSlices, so the echo backends run in a
# network namespace this script creates (a veth pair, addresses from 198.18.0.0/15) and removes.
# The scenarios are e2e/scenarios.sh, shared with e2e/local. Prints "N passed, N failed".
#   e2e/real/run.sh [BUILD_DIR]        (API_DOWN_SECONDS, KEEP=1: see e2e/scenarios.sh)
set -uo pipefail
command -v go >/dev/null || PATH="$PATH:/usr/local/go/bin"
root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/${1:-build}"
bin=$("$root/scripts/install-tools.sh") || exit 1
kube=$("$root/scripts/install-tools.sh" kube) || { echo "e2e/real: kube-apiserver could not be built" >&2; exit 1; }
work=$(mktemp -d /tmp/portico-e2e-real.XXXXXX)
export KUBECONFIG="$work/admin.kubeconfig" KUBECACHEDIR="$work/kubecache"
# shellcheck source=../scenarios.sh
source "$root/e2e/scenarios.sh"
netns="portico-e2e-$$"
veth="pe2e$$"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  ip netns del "$netns" 2>/dev/null
  ip link del "$veth" 2>/dev/null
  [[ ${KEEP:-0} == 1 ]] || rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_for WHAT COMMAND...: the command succeeds within 60 s, or the run stops.
wait_for() {
  local what=$1; shift
  for _ in $(seq 1 600); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "e2e/real: $what did not happen within 60 s (logs in $work)" >&2
  KEEP=1
  exit 1
}

# ---- certificates: a CA, the server's, the admin's (system:masters), service-account keys ---
pki="$work/pki"
mkdir -p "$pki"
(
  cd "$pki"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=e2e-ca \
    -keyout ca.key -out ca.crt
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=kube-apiserver \
    -keyout server.key -out server.csr
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 \
    -extfile server.ext -out server.crt
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=system:masters/CN=admin" \
    -keyout admin.key -out admin.csr
  printf 'extendedKeyUsage=clientAuth\n' >admin.ext
  openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 \
    -extfile admin.ext -out admin.crt
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key
  openssl pkey -in sa.key -pubout -out sa.pub
) >"$work/pki.log" 2>&1 || { echo "e2e/real: openssl failed (see $work/pki.log)" >&2; exit 1; }

# ---- etcd and kube-apiserver on loopback ------------------------------------------------------
etcd_port=$(free_port); peer_port=$(free_port); api_port=$(free_port)
"$kube/etcd" --name e2e --data-dir "$work/etcd" --unsafe-no-fsync --log-level warn \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "e2e=http://127.0.0.1:$peer_port" >"$work/etcd.log" 2>&1 &
pids+=($!)
wait_for "etcd's health" curl -sf "http://127.0.0.1:$etcd_port/health"

api_start() {
  [[ -n ${api_pid:-} ]] && wait "$api_pid" 2>/dev/null
  "$kube/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
    --cert-dir "$work/apiserver" --tls-cert-file "$pki/server.crt" --tls-private-key-file "$pki/server.key" \
    --client-ca-file "$pki/ca.crt" --authorization-mode RBAC \
    --service-account-issuer "https://127.0.0.1:$api_port" --service-account-key-file "$pki/sa.pub" \
    --service-account-signing-key-file "$pki/sa.key" --service-cluster-ip-range 10.0.0.0/24 \
    --disable-admission-plugins ServiceAccount --endpoint-reconciler-type none \
    --allow-privileged=true >>"$work/apiserver.log" 2>&1 &
  api_pid=$!
  pids+=("$api_pid")
  wait_for "kube-apiserver's /readyz" curl -sf --cacert "$pki/ca.crt" --cert "$pki/admin.crt" \
    --key "$pki/admin.key" "https://127.0.0.1:$api_port/readyz"
}
# kube-apiserver stops listening at once on SIGTERM, but ends its watches only after its 60 s
# shutdown timeout, as in a cluster's rolling update: the outage is checked meanwhile, and the
# next start waits for the old process to be gone.
api_stop() { kill "$api_pid"; }
api_faults=0
api_start
cat >"$KUBECONFIG" <<YAML
apiVersion: v1
kind: Config
clusters: [{name: e2e, cluster: {server: "https://127.0.0.1:$api_port", certificate-authority: $pki/ca.crt}}]
users: [{name: admin, user: {client-certificate: $pki/admin.crt, client-key: $pki/admin.key}}]
contexts: [{name: e2e, context: {cluster: e2e, user: admin}}]
current-context: e2e
YAML
wait_for "the default namespace" kubectl get namespace default

# ---- portico's identity: the chart's ServiceAccount and RBAC --------------------------------
# The release "portico" in portico-system, as an operator installs it; its Deployment never gets
# pods (there is no kubelet), and portico runs here, under the token of its ServiceAccount.
helm() { "$bin/helm" --kubeconfig "$KUBECONFIG" "$@"; }
helm install portico "$root/charts/portico" --namespace portico-system --create-namespace \
  >>"$work/helm.log" 2>&1 || { echo "e2e/real: helm install was refused (see $work/helm.log)" >&2; exit 1; }
token=$(kubectl -n portico-system create token portico --duration 2h) ||
  { echo "e2e/real: no token for the portico ServiceAccount" >&2; exit 1; }
cat >"$work/portico.kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters: [{name: e2e, cluster: {server: "https://127.0.0.1:$api_port", certificate-authority: $pki/ca.crt}}]
users: [{name: portico, user: {token: "$token"}}]
contexts: [{name: e2e, context: {cluster: e2e, user: portico}}]
current-context: e2e
YAML

# ---- echo backends in a network namespace ---------------------------------------------------
net=$(($$ % 250))
host_ip="198.18.$net.1" backend_ip="198.18.$net.2"
if ! { ip netns add "$netns" &&
  ip link add "$veth" type veth peer name "${veth}n" &&
  ip link set "${veth}n" netns "$netns" &&
  ip addr add "$host_ip/30" dev "$veth" && ip link set "$veth" up &&
  ip netns exec "$netns" ip addr add "$backend_ip/30" dev "${veth}n" &&
  ip netns exec "$netns" ip link set "${veth}n" up &&
  ip netns exec "$netns" ip link set lo up; }; then
  echo "e2e/real: the network namespace could not be made (needs root)" >&2
  exit 1
fi
port_a=8081 port_b=8082
ip netns exec "$netns" "$build/tests/echo-backend" --bind "$backend_ip" --port "$port_a" --name a >/dev/null &
pids+=($!)
ip netns exec "$netns" "$build/tests/echo-backend" --bind "$backend_ip" --port "$port_b" --name b >/dev/null &
pids+=($!)
wait_for "echo backend a" curl -sf "http://$backend_ip:$port_a/"
wait_for "echo backend b" curl -sf "http://$backend_ip:$port_b/"

# ---- portico --------------------------------------------------------------------------------
http=$(free_port); admin=$(free_port)
status_ip_want=192.0.2.10 lease_ns=portico-system
"$build/src/portico" --kubeconfig "$work/portico.kubeconfig" --bind 127.0.0.1 --http-port "$http" \
  --https-port 0 --admin-port "$admin" --workers 2 --publish-status-address "$status_ip_want" \
  --election-namespace "$lease_ns" --log-format text >"$work/access.log" 2>"$work/portico.log" &
pids+=($!)

run_scenarios

# ---- the chart's lifecycle on the real server ----------------------------------------------
# prometheus-operator's CRDs, from its Go module at a pinned version, so that the ServiceMonitor
# and the PrometheusRule are validated against their schemas.
prometheus_operator=v0.85.0
crds=$(GOFLAGS=-mod=mod go mod download -json "github.com/prometheus-operator/prometheus-operator@$prometheus_operator" 2>>"$work/helm.log" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')/example/prometheus-operator-crd
for crd in servicemonitors prometheusrules; do
  kubectl create -f "$crds/monitoring.coreos.com_$crd.yaml" >>"$work/kubectl.log" 2>&1
  kubectl wait --for condition=established "crd/$crd.monitoring.coreos.com" --timeout 60s >>"$work/kubectl.log" 2>&1
done
objects() {  # the release's objects of the given kinds in namespace chart-test, as KIND/NAME
  kubectl -n chart-test get "$1" -l app.kubernetes.io/instance=chart-test -o name 2>/dev/null | LC_ALL=C sort | tr '\n' ' '
}
chart_values=(--set controller.ingressClassResource.name=portico-chart-test
  --set controller.metrics.enabled=true --set controller.metrics.serviceMonitor.enabled=true
  --set controller.metrics.prometheusRule.enabled=true --set controller.dashboards.enabled=true
  --set controller.config.hsts=false --set controller.autoscaling.enabled=true
  --set controller.autoscaling.minReplicas=2 --set controller.containerPort.http=80)
if helm install chart-test "$root/charts/portico" -n chart-test --create-namespace "${chart_values[@]}" >>"$work/helm.log" 2>&1; then
  pass "helm install with metrics, ServiceMonitor, PrometheusRule, dashboard, config, HPA"
else
  fail "helm install was refused: $(tail -3 "$work/helm.log")"
fi
expect_out "its objects are on the server" \
  "configmap/chart-test-portico configmap/chart-test-portico-dashboard deployment.apps/chart-test-portico horizontalpodautoscaler.autoscaling/chart-test-portico poddisruptionbudget.policy/chart-test-portico prometheusrule.monitoring.coreos.com/chart-test-portico service/chart-test-portico service/chart-test-portico-metrics servicemonitor.monitoring.coreos.com/chart-test-portico " \
  objects configmap,deployment,daemonset,hpa,pdb,prometheusrule,service,servicemonitor
if helm upgrade chart-test "$root/charts/portico" -n chart-test --reuse-values --set controller.kind=DaemonSet \
  --set controller.scope.enabled=true --set controller.service.type=NodePort >>"$work/helm.log" 2>&1; then
  pass "helm upgrade to a DaemonSet watching one namespace, behind a NodePort"
else
  fail "helm upgrade was refused: $(tail -3 "$work/helm.log")"
fi
expect_out "the upgrade replaced the Deployment and dropped the HPA and PDB" \
  "daemonset.apps/chart-test-portico role.rbac.authorization.k8s.io/chart-test-portico role.rbac.authorization.k8s.io/chart-test-portico-leader-election " \
  objects deployment,daemonset,hpa,pdb,role
helm uninstall chart-test -n chart-test >>"$work/helm.log" 2>&1 || fail "helm uninstall failed"
leftover() { kubectl get clusterrole,clusterrolebinding,ingressclass -l app.kubernetes.io/instance=chart-test -o name; objects all,configmap,role,rolebinding,serviceaccount,servicemonitor,prometheusrule; }
expect_out "helm uninstall leaves nothing behind" "" leftover

# e2e/kind cannot run here; its backends pod and ConfigMap pass this server's validation.
if kubectl apply --dry-run=server -f "$root/e2e/kind/backends.yaml" >>"$work/kubectl.log" 2>&1; then
  pass "e2e/kind's backends pass the server's validation"
else
  fail "e2e/kind/backends.yaml was refused (see $work/kubectl.log)"
fi

# RBAC as it will run: every request portico made was allowed.
forbidden=$(grep -ciE 'forbidden|\b403\b' "$work/portico.log")
if [[ $forbidden == 0 ]]; then
  pass "no request of portico was forbidden by the chart's RBAC"
else
  fail "portico was refused $forbidden times:"
  grep -iE 'forbidden|\b403\b' "$work/portico.log" | head -5
fi
summary e2e/real
