#!/usr/bin/env bash
# The container image's runtime filesystem: the portico binary as /portico, the shared libraries
# ldd names for it (and the dynamic loader) at their paths, the CA certificates, and a non-root
# user. The Dockerfile's runtime stage is this directory and nothing else; tests/image checks
# on the host that the binary runs from it alone (chroot).
#   scripts/image-rootfs.sh BINARY DIR
set -euo pipefail
binary=$1
dir=$2
mkdir -p "$dir/etc/ssl/certs" "$dir/usr/lib/ssl" "$dir/tmp"
install -m 0755 "$binary" "$dir/portico"
# "libssl.so.3 => /lib/x86_64-linux-gnu/libssl.so.3 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)"
libs=$(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
for lib in $libs; do
  real=$(readlink -f "$lib")
  mkdir -p "$dir$(dirname "$lib")"
  cp "$real" "$dir$lib"
done
cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/"
ln -sfn /etc/ssl/certs/ca-certificates.crt "$dir/usr/lib/ssl/cert.pem"
ln -sfn /etc/ssl/certs "$dir/usr/lib/ssl/certs"
printf 'root:x:0:0:root:/:/sbin/nologin\nportico:x:65532:65532:portico:/:/sbin/nologin\n' >"$dir/etc/passwd"
printf 'root:x:0:\nportico:x:65532:\n' >"$dir/etc/group"
chmod 1777 "$dir/tmp"
