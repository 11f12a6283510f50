#!/usr/bin/env bash
# Protocol benchmark: weft-plugin --fake-kernel driven over its unix socket.
# Prints throughput, latency percentiles and RSS with 1,000 endpoints.
#   bench/plugin_protocol_bench.sh [--seconds S] [--connections C] [--stall-sidecar] [--metrics] [--scrapes N]
# --stall-sidecar: multi-host on a loopback gossip port; the cycles run with
# the weft-gossip sidecar running, then with it stopped (SIGSTOP).
# --metrics [--scrapes N]: METRICS_ADDR on a loopback port (every call
# counted); with 1,000 joined endpoints, N scrapes (default 200): latency,
# size, weft-plugin's CPU per scrape and its share at a 15 s interval.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cmake -G Ninja -S "$here" -B "$here/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$here/build" weft-plugin weft-protocol-bench >/dev/null
exec "$here/build/bin/weft-protocol-bench" "$here/build/bin/weft-plugin" "$@"
