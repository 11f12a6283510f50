#!/usr/bin/env bash
# Protocol benchmark: weft-plugin --fake-kernel driven over its unix socket.
# Prints throughput, latency percentiles and RSS with 1,000 endpoints.
#   bench/plugin_protocol_bench.sh [--seconds S] [--connections C] [--stall-sidecar]
# --stall-sidecar: multi-host on a loopback gossip port; the cycles run with
# the weft-gossip sidecar running, then with it stopped (SIGSTOP).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cmake -G Ninja -S "$here" -B "$here/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$here/build" weft-plugin weft-protocol-bench >/dev/null
exec "$here/build/bin/weft-protocol-bench" "$here/build/bin/weft-plugin" "$@"
