#!/usr/bin/env bash
# Installs everything weft needs to build, test and run its demo, from Debian's
# packages. Idempotent: packages already present are not touched again.
set -euo pipefail

# The one list (packaging/debian-deps.txt), all of it.
# shellcheck source=packaging/build-deps.sh
source "$(dirname "${BASH_SOURCE[0]}")/../packaging/build-deps.sh"
PKGS=("${WEFT_ALL_DEPS[@]}")

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
