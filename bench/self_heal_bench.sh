#!/usr/bin/env bash
# What run-time self-healing (Driver::selfHeal: a full look every
# RECONCILE_INTERVAL, change notifications in between) and the data-plane
# probes cost a host with 1,000 remote endpoints, on the real kernel: builds
# weft-self-heal-cost-bench and runs it (as root; it makes its own throwaway
# network and mount namespaces, so nothing on the machine is touched).
#
#   sudo bench/self_heal_bench.sh [--endpoints N] [--vteps V] [--seconds S] [--interval-ms I]
#                                 [--looks L] [--drift K] [--probes 0|1]
#
# Prints the steady-state CPU share of one core (target: under 1 %), the CPU
# of one full look and of repairing K deleted entries.
# Environment: BUILD_DIR (default <repo>/build).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$repo/build}"
if [[ $(id -u) -ne 0 ]]; then
  echo "self_heal_bench: needs root (network and mount namespaces)" >&2
  exit 1
fi
if [[ ! -f $build/build.ninja ]]; then
  cmake -G Ninja -S "$repo" -B "$build" >/dev/null
fi
ninja -C "$build" weft-self-heal-cost-bench >/dev/null
echo "# $(uname -r), $(nproc) cpus; $(date -Is)"
exec "$build/bin/weft-self-heal-cost-bench" "$@"
