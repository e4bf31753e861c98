#!/usr/bin/env bash
# The container image's runtime stage, checked without a Docker engine: scripts/image-rootfs.sh
# (the step the Dockerfile runs) builds the filesystem from this build's binary, and portico
# must start from it alone, as the image's user, read-only: chroot into it, serve the quick-start
# example, and answer /healthz. A shared library ldd missed, or one the rootfs lacks, fails here.
#   tests/image/image_test.sh BUILD_DIR       prints "N passed, N failed"
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$1
work=$(mktemp -d /tmp/portico-image.XXXXXX)
pid=""
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
passed=0 failed=0
check() { if eval "$2"; then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1"; fi; }

rootfs="$work/rootfs"
"$root/scripts/image-rootfs.sh" "$build/src/portico" "$rootfs"
check "the Dockerfile's runtime stage is scripts/image-rootfs.sh's directory" \
  "grep -q 'scripts/image-rootfs.sh /build/src/portico /rootfs' '$root/Dockerfile' && grep -q '^FROM scratch' '$root/Dockerfile' && grep -q 'ENTRYPOINT \[\"/portico\"\]' '$root/Dockerfile'"
check "it holds the binary, the loader and every library ldd names" \
  "[[ -x '$rootfs/portico' ]] && ldd '$build/src/portico' | awk '\$3 ~ /^\\// {print \$3} \$1 ~ /^\\// {print \$1}' | while read -r l; do [[ -f '$rootfs'\$l ]] || exit 1; done"
check "and nothing else: files are the binary, libraries, CA certificates, passwd and group" \
  "! (cd '$rootfs' && find . -type f | grep -vE '^\./(portico|(usr/)?lib(64|/x86_64-linux-gnu)?/[^/]+\.so[.0-9]*|lib64/ld-linux-x86-64\.so\.2|etc/ssl/certs/ca-certificates\.crt|etc/(passwd|group))$')"
check "portico --help runs from it alone, as user 65532" \
  "[[ \$(chroot --userspec=65532:65532 '$rootfs' /portico --help) == *'Usage: portico'* ]]"

mkdir -p "$rootfs/examples"
cp "$root"/examples/quickstart/*.yaml "$rootfs/examples/"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http=$(port) https=$(port) admin=$(port)
# As the chart runs it: a read-only root filesystem (a read-only bind mount of the directory, in
# a mount namespace of its own that goes away with the process).
# shellcheck disable=SC2016  # $1 and $@ are the inner shell's
unshare -m --propagation private sh -c 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift &&
  exec chroot --userspec=65532:65532 "$@"' sh "$rootfs" "$rootfs" /portico --manifests /examples \
  --bind 127.0.0.1 --http-port "$http" --https-port "$https" --admin-port "$admin" --workers 1 \
  >"$work/out.log" 2>&1 &
pid=$!
healthy() { for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$admin/healthz" >/dev/null && return 0; sleep 0.1; done; return 1; }
check "from it, read-only, portico serves the quick start (its TLS listener and self-signed certificate included)" healthy
check "its root filesystem is read-only" "awk '\$5 == \"/\" {print \$6}' /proc/$pid/mountinfo | grep -q '^ro'"
check "and its HTTPS listener completes a handshake" \
  "curl -sk -o /dev/null 'https://127.0.0.1:$https/' --resolve x:$https:127.0.0.1"
[[ $failed -eq 0 ]] || tail -20 "$work/out.log"
echo
echo "image: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
