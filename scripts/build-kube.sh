#!/usr/bin/env bash
# Builds a real control plane for e2e/real from the Go module proxy: kube-apiserver from
# k8s.io/kubernetes, and etcd from go.etcd.io/etcd/server/v3 at the version kube-apiserver's own
# go.mod requires. Both land in .tools/kube/vVERSION/ (git ignores .tools/) and are reused while
# the version stays; prints that directory.
#
# k8s.io/kubernetes cannot be `go install`ed: its go.mod requires its staging modules (k8s.io/api,
# k8s.io/apiserver, ...) at v0.0.0 and replaces them with ./staging paths. A wrapper module
# requires it and replaces each staging module with its published tag (v1.N.M is v0.N.M), the
# list read from k8s.io/kubernetes's go.mod itself. etcd is a two-line main around etcdmain in the
# same module, so both share one dependency graph.
#
#   KUBE_VERSION=1.34.4 scripts/build-kube.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# Within one minor of the kubectl the project uses (scripts/install-tools.sh).
version=${KUBE_VERSION:-1.34.4}
out="$root/.tools/kube/v$version"
if [[ -x $out/kube-apiserver && -x $out/etcd ]]; then
  echo "$out"
  exit 0
fi
# Go's own installer puts it in /usr/local/go, which a non-login shell's PATH may lack.
command -v go >/dev/null || PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "build-kube: Go (1.24 or newer) is not installed" >&2; exit 1; }
kubectl_minor=$("$root/.tools/bin/kubectl" version --client -o json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["minor"].rstrip("+"))')
minor=$(cut -d. -f2 <<<"$version")
if ((minor - kubectl_minor > 1 || kubectl_minor - minor > 1)); then
  echo "build-kube: kube-apiserver 1.$minor is more than one minor from kubectl 1.$kubectl_minor" >&2
  exit 1
fi
started=$(date +%s)
src="$root/.tools/kube/src-v$version"
rm -rf "$src"
mkdir -p "$src/etcd"
cd "$src"
export GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN=local
echo "build-kube: k8s.io/kubernetes v$version and its etcd, from the Go module proxy" >&2
go mod init portico.test/kube >/dev/null 2>&1
kmod=$(go mod download -json "k8s.io/kubernetes@v$version" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
staging=$(sed -n 's/^\t\(k8s\.io\/[a-z0-9-]*\) v0\.0\.0$/\1/p' "$kmod")
[[ -n $staging ]] || { echo "build-kube: no staging modules in $kmod" >&2; exit 1; }
for m in $staging; do
  go mod edit "-replace=$m=$m@v0.$minor.${version##*.}"
done
go mod edit "-require=k8s.io/kubernetes@v$version"
etcd_version=$(sed -n 's/^\tgo\.etcd\.io\/etcd\/server\/v3 \(v[0-9.]*\).*/\1/p' "$kmod")
[[ -n $etcd_version ]] || { echo "build-kube: $kmod names no etcd server" >&2; exit 1; }
go mod edit "-require=go.etcd.io/etcd/server/v3@$etcd_version"
printf '//go:build tools\n\npackage tools\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver"\n' >tools.go
printf 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n' >etcd/main.go
go mod tidy >&2
mkdir -p "$out.tmp"
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v$version"
ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
go build -trimpath -ldflags "$ldflags" -o "$out.tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
go build -trimpath -ldflags "-s -w" -o "$out.tmp/etcd" ./etcd
rm -rf "$out"
mv "$out.tmp" "$out"
echo "build-kube: built kube-apiserver v$version and etcd $etcd_version in $(($(date +%s) - started)) s" >&2
echo "$out"
