#!/usr/bin/env bash
# Endpoint cycles through weft's driver on the real kernel: builds
# weft-kernel-bench and runs it (as root; it makes its own throwaway network
# and mount namespaces, so nothing on the machine is touched).
#
#   bench/kernel_bench.sh [--cycles N] [--warmup N] [--state-dir PARENT]
#
# --state-dir picks the filesystem the state file (fsynced on every
# CreateEndpoint/DeleteEndpoint) lives on; default /tmp. Prints cycles/s,
# per-call latency percentiles, and interface/namespace/mount/fd counts before
# and after; exits 1 if any of them grew.
# Environment: BUILD_DIR (default <repo>/build).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$repo/build}"
if [[ $(id -u) -ne 0 ]]; then
  echo "kernel_bench: needs root (network and mount namespaces)" >&2
  exit 1
fi
if [[ ! -f $build/build.ninja ]]; then
  cmake -G Ninja -S "$repo" -B "$build" >/dev/null
fi
ninja -C "$build" weft-kernel-bench >/dev/null
echo "# $(uname -r), $(nproc) cpus; $(date -Is)"
exec "$build/bin/weft-kernel-bench" "$@"
