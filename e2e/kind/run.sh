#!/usr/bin/env bash
# End-to-end on a kind cluster, for users with Docker and kind (it cannot run on a machine
# without a Docker engine, so make test does not run it): builds the image, loads it into a
# new cluster with ports 80 and 443 mapped, installs the chart, starts the echo backends and
# runs e2e/scenarios.sh, the scenarios e2e/local and e2e/real run. Deletes the cluster at the
# end. Prints "N passed, N failed".
#   e2e/kind/run.sh        (KEEP=1 keeps the cluster; API_DOWN_SECONDS: see e2e/scenarios.sh)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cluster=portico-e2e
for tool in docker kind; do
  command -v "$tool" >/dev/null || { echo "e2e/kind: $tool is not installed" >&2; exit 1; }
done
bin=$("$root/scripts/install-tools.sh") || exit 1
work=$(mktemp -d /tmp/portico-e2e-kind.XXXXXX)
export KUBECONFIG="$work/kubeconfig"
# shellcheck source=../scenarios.sh
source "$root/e2e/scenarios.sh"
helm() { "$bin/helm" "$@"; }
forward=""
cleanup() {
  [[ -n $forward ]] && kill "$forward" 2>/dev/null
  [[ ${KEEP:-0} == 1 ]] || { kind delete cluster --name "$cluster" >/dev/null 2>&1; rm -rf "$work"; }
}
trap cleanup EXIT
step() { echo "== $*"; }

step "cluster, image, chart"
kind create cluster --name "$cluster" --config "$root/e2e/kind/cluster.yaml" --kubeconfig "$KUBECONFIG" || exit 1
docker build -t portico:e2e "$root" || exit 1
kind load docker-image portico:e2e --name "$cluster" || exit 1
lease_ns=ingress-portico
helm install portico "$root/charts/portico" -n "$lease_ns" --create-namespace --wait --timeout 3m \
  --set controller.image.tag=e2e --set controller.service.type=NodePort \
  --set controller.service.nodePorts.http=30080 --set controller.service.nodePorts.https=30443 || exit 1
kubectl apply -f "$root/e2e/kind/backends.yaml" >/dev/null && kubectl wait pod/echo --for condition=Ready --timeout 3m || exit 1

http=80 port_a=8081 port_b=8082 api_faults=0
backend_ip=$(kubectl get pod echo -o jsonpath='{.status.podIP}')
# Ingress status gets the published Service's address: a NodePort Service's cluster IP.
status_ip_want=$(kubectl -n "$lease_ns" get service portico -o jsonpath='{.spec.clusterIP}')
admin=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
kubectl -n "$lease_ns" port-forward deployment/portico "$admin:9090" >/dev/null 2>&1 &
forward=$!
access_log_sync() { kubectl -n "$lease_ns" logs deployment/portico >"$work/access.log" 2>/dev/null; }
# The API server is a static pod: kubelet stops it when its manifest leaves the directory.
node="$cluster-control-plane"
api_stop() { docker exec "$node" mv /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/; }
api_start() {
  docker exec "$node" mv /etc/kubernetes/kube-apiserver.yaml /etc/kubernetes/manifests/
  for _ in $(seq 1 1200); do kubectl get --raw /readyz >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "e2e/kind: the API server did not come back" >&2; exit 1
}

step "scenarios"
run_scenarios
summary e2e/kind
