#!/usr/bin/env bash
# Names across hosts (issue 12): how soon after `docker run -d` returns on
# h2 does the new container's name resolve in a container on h1? On a
# 2-host test bed (real dockerd per host, `--dns 169.254.53.53`), N trials:
# a poller in h1's client container (its network namespace, through
# Docker's embedded DNS at 127.0.0.11) asks for the name every 5 ms from
# just before the run; the time from the return of `docker run -d` to the
# first answer with an address is one sample (negative: the name resolved
# before `docker run -d` returned -- weft learns it right after Join, while
# dockerd is still starting the container). Prints p50/p90/p99/max/min.
# Brings up its own bed and tears it down.
#
#   bench/docker/name_resolve_latency.sh [N]      (as root; default N=50)
#
# Run it under the e2e lock: flock /tmp/weft-e2e.lock bench/docker/name_resolve_latency.sh
# shellcheck disable=SC2154  # TB_* come from the bed's env file
# shellcheck source-path=SCRIPTDIR source=../../tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../tests/e2e/lib.sh"
# shellcheck source=../../tests/e2e/weft_lib.sh
source "$E2E_LIB_DIR/weft_lib.sh"
poller="$E2E_REPO/bench/docker/name_resolve_poller.py"
n="${1:-50}"
((n >= 1 && n <= 200)) || { echo "name_resolve_latency: N must be 1..200" >&2; exit 2; }
e2e_require_multihost
e2e_require_cmd python3
say() { echo "# $*" >&2; }

export TB_DOCKERD_ARGS="--dns 169.254.53.53${TB_DOCKERD_ARGS:+ $TB_DOCKERD_ARGS}"
e2e_bed_up 2
key="$(new_cluster_key)"
for h in h1 h2; do
  weft_start_on "$h" "$key" --engine-socket "$(hvar "$h" DIR)/docker.sock" >/dev/null
  dh "$h" network create -d weft --ipam-driver weft --subnet 10.72.0.0/24 n1 >/dev/null
done
dh h1 run -d --name cli --network n1 busybox:local sleep 3600 >/dev/null
dh h2 run -d --name warm --network n1 busybox:local sleep 3600 >/dev/null
pid="$(dh h1 inspect -f '{{.State.Pid}}' cli)"
# One warm-up: the first container also brings the name record network's sync.
nsenter -t "$pid" -n python3 "$poller" warm 30 >/dev/null || fail "warm-up name never resolved"

samples=()
for ((i = 0; i < n; i++)); do
  name="t$i-$RANDOM"
  out="$(mktemp)"
  nsenter -t "$pid" -n python3 "$poller" "$name" 30 >"$out" &
  ppid=$!
  sleep 0.05  # the poller is asking before the run starts
  dh h2 run -d --name "$name" --network n1 busybox:local sleep 3600 >/dev/null
  ret="$(date +%s.%N)"
  wait "$ppid" || fail "trial $i: $name never resolved on h1"
  samples+=("$(awk -v a="$(cat "$out")" -v b="$ret" 'BEGIN { printf "%.1f", (a - b) * 1000 }')")
  rm -f "$out"
  dh h2 rm -f "$name" >/dev/null
  if (((i + 1) % 10 == 0)); then say "$((i + 1))/$n"; fi
done

printf '%s\n' "${samples[@]}" | sort -g | awk -v n="$n" '{ v[NR] = $1 }
  function r(p) { i = int(p * NR + 0.999999); if (i < 1) i = 1; return v[i] }
  END {
    print "# time from `docker run -d` returning on h2 to the name resolving in a container on h1 (ms)"
    printf "# %d samples; %s\n", n, ENVIRON["BENCH_HOSTINFO"]
    printf "%8s %8s %8s %8s %8s\n", "p50", "p90", "p99", "max", "min"
    printf "%8.1f %8.1f %8.1f %8.1f %8.1f\n", r(0.5), r(0.9), r(0.99), v[NR], v[1]
  }'
e2e_pass >/dev/null 2>&1 || true
