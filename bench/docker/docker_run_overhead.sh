#!/usr/bin/env bash
# What a weft network adds to `docker run`: on a one-host test bed (a real
# dockerd, tests/testbed), times `docker run --rm busybox:local true` on a
# weft network and with `--network none`, N times each, interleaved, after a
# warm-up; prints median and p90 of each and the added median (target: less
# than 30 ms). For scale it also times a user-defined network of Docker's own
# `bridge` driver (what any user-defined network costs in Docker: embedded
# DNS, a veth) and prints weft's median against that too. Brings up its own
# bed and tears it down.
#
#   sudo bench/docker/docker_run_overhead.sh [N]        (default N=30)
#
# Environment: WARMUP (default 3), WEFT_BIN (default <repo>/build/bin).
# shellcheck disable=SC1091,SC2154  # the bed's env file
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
testbed="$repo/tests/testbed/testbed.sh"
n="${1:-30}"
warmup="${WARMUP:-3}"
[[ $(id -u) -eq 0 ]] || { echo "docker_run_overhead: needs root" >&2; exit 1; }
[[ -x ${WEFT_BIN:-$repo/build/bin}/weft-plugin ]] || { echo "docker_run_overhead: build weft-plugin first" >&2; exit 1; }

parent="$(mktemp -d /tmp/weft-bench.XXXXXX)"
export TB_DIR="$parent/bed" TB_NS_PREFIX="tbb-${parent##*.}-"
cleanup() {
  "$testbed" down >/dev/null 2>&1 || echo "docker_run_overhead: testbed down failed ($TB_DIR)" >&2
  rm -rf --one-file-system "$parent"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$testbed" up 1 >/dev/null 2>&1
source "$TB_DIR/env"
"$testbed" weft-start h1 >/dev/null 2>&1
docker_cli="${TB_DOCKER_CLI:-/usr/bin/docker}"
d() { DOCKER_CONFIG="$TB_DIR/cli" "$docker_cli" -H "$TB_h1_DOCKER_HOST" "$@"; }
d network create -d weft --subnet 10.10.0.0/24 bench >/dev/null
d network create -d bridge --subnet 10.99.0.0/24 ubridge >/dev/null

now_ns() { date +%s%N; }
# run_ms NETWORK : wall time of one `docker run --rm`, in ms (3 decimals)
run_ms() {
  local t0 t1
  t0=$(now_ns)
  d run --rm --network "$1" busybox:local true >/dev/null
  t1=$(now_ns)
  awk -v ns=$((t1 - t0)) 'BEGIN { printf "%.3f\n", ns / 1e6 }'
}

for ((i = 0; i < warmup; i++)); do
  run_ms bench >/dev/null; run_ms none >/dev/null; run_ms ubridge >/dev/null
done
weft=() none=() ubr=()
for ((i = 0; i < n; i++)); do
  # rotate which goes first, so none always follows another
  case $((i % 3)) in
    0) none+=("$(run_ms none)"); weft+=("$(run_ms bench)"); ubr+=("$(run_ms ubridge)") ;;
    1) weft+=("$(run_ms bench)"); ubr+=("$(run_ms ubridge)"); none+=("$(run_ms none)") ;;
    2) ubr+=("$(run_ms ubridge)"); none+=("$(run_ms none)"); weft+=("$(run_ms bench)") ;;
  esac
done

# stats: prints "median p90 min max" of its arguments (nearest-rank)
stats() {
  printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 }
    END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
          r = int(0.9 * NR + 0.999999); printf "%.1f %.1f %.1f %.1f\n", m, v[r], v[1], v[NR] }'
}
read -r wm w90 wmin wmax <<<"$(stats "${weft[@]}")"
read -r nm n90 nmin nmax <<<"$(stats "${none[@]}")"
read -r bm b90 bmin bmax <<<"$(stats "${ubr[@]}")"
echo "# docker run --rm busybox:local true, $n runs each (interleaved, after $warmup warm-up pairs); $(uname -r), $(nproc) cpus"
printf '%-18s %9s %9s %9s %9s\n' "network" "median" "p90" "min" "max"
printf '%-18s %7s ms %6s ms %6s ms %6s ms\n' "weft" "$wm" "$w90" "$wmin" "$wmax"
printf '%-18s %7s ms %6s ms %6s ms %6s ms\n' "none" "$nm" "$n90" "$nmin" "$nmax"
printf '%-18s %7s ms %6s ms %6s ms %6s ms\n' "bridge (user-def.)" "$bm" "$b90" "$bmin" "$bmax"
added="$(awk -v a="$wm" -v b="$nm" 'BEGIN { printf "%.1f", a - b }')"
verdict="$(awk -v x="$added" 'BEGIN { print (x < 30) ? "met" : "NOT met" }')"
echo "added median by weft (weft - none): $added ms (target < 30 ms: $verdict)"
echo "weft - user-defined bridge (median): $(awk -v a="$wm" -v b="$bm" 'BEGIN { printf "%.1f", a - b }') ms"
