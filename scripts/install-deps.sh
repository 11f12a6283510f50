#!/usr/bin/env bash
# Installs everything weft needs to build, test and run its demo, from Debian's
# packages. Idempotent: packages already present are not touched again.
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build pkg-config clang clang-format libclang-rt-14-dev
  libcpp-httplib-dev nlohmann-json3-dev libnl-3-dev libnl-route-3-dev
  libmnl-dev libssl-dev libgtest-dev libgmock-dev
  iproute2 iptables kmod procps util-linux psmisc curl
  docker.io busybox-static iperf3
  debootstrap docker-registry tini jq
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: must run as root to install packages" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "install-deps: all build and test dependencies present"
