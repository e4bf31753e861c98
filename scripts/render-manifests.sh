#!/usr/bin/env bash
# Renders manifests/deploy.yaml from the chart's default values: `kubectl apply -f` for those
# who do not use Helm (namespace ingress-portico, release portico).
#   scripts/render-manifests.sh           write it
#   scripts/render-manifests.sh --check   fail if it is out of date (tests/chart/chart_test.py)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
helm="$("$root/scripts/install-tools.sh")/helm"
out="$root/manifests/deploy.yaml"
render() {
  printf '# Rendered from charts/portico with its default values by scripts/render-manifests.sh.\n'
  printf '# Do not edit: change the chart and run the script.\n'
  printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ingress-portico\n'
  "$helm" template portico "$root/charts/portico" --namespace ingress-portico
}
if [[ ${1:-} == --check ]]; then
  if ! diff -u "$out" <(render) >/dev/null; then
    echo "manifests/deploy.yaml is out of date: run scripts/render-manifests.sh" >&2
    exit 1
  fi
  exit 0
fi
mkdir -p "$root/manifests"
render >"$out"
