#!/usr/bin/env bash
# TCP throughput between containers on two hosts: a weft network versus
# Docker's built-in overlay in swarm mode on the same two test-bed hosts, same
# underlay MTU, printed side by side. iperf3 (in busybox:local), 10 s per run,
# RUNS runs each (interleaved), one stream. Brings up its own bed and tears it
# down.
#
#   bench/docker/throughput_vs_overlay.sh [--managed]      (as root)
#        (RUNS=3, SECONDS_PER_RUN=10, TB_MTU=1500)
#
# Default: weft in legacy socket mode, standalone containers on both
# networks. --managed: weft as the managed plugin (built from the Dockerfile
# with packaging/build-plugin.sh --offline, rootfs cached in
# WEFT_IMAGE_CACHE=/var/cache/weft-images, `docker plugin create` on each
# host, SCOPE=global, no PEERS), `docker network create -d weft:latest
# --attachable appnet`, and the iperf3 endpoints are the tasks of a global
# service on each network (one task per host).
# The bed, its teardown and the helpers come from the e2e library
# (tests/e2e/lib.sh, weft_lib.sh).
# shellcheck disable=SC2154  # TB_h1_ADDR and friends: the bed's env file
# shellcheck source-path=SCRIPTDIR source=../../tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../tests/e2e/lib.sh"
# shellcheck source=../../tests/e2e/weft_lib.sh
source "$E2E_LIB_DIR/weft_lib.sh"
mode=legacy
case "${1:-}" in
  --managed) mode=managed ;;
  "") ;;
  *) echo "usage: throughput_vs_overlay.sh [--managed]" >&2; exit 2 ;;
esac
runs="${RUNS:-3}"
secs="${SECONDS_PER_RUN:-10}"
e2e_require_multihost
say() { echo "# $*" >&2; }
# docker on a host, unbounded in time (iperf3 runs take what they take)
d() { tb_docker "$@"; }

say "bringing up 2 hosts (underlay MTU ${TB_MTU:-1500})"
[[ $mode == managed ]] && export TB_RUN_SHARED=1  # the plugin's hostrun mount, as on systemd hosts
e2e_bed_up 2
parent="$E2E_BED_PARENT"
key="$(new_cluster_key)"
wnet=wnet
if [[ $mode == legacy ]]; then
  for i in 1 2; do weft_start_on "h$i" "$key"; done
  say "weft network on both hosts"
  for i in 1 2; do
    d "h$i" network create -d weft --ipam-driver weft --subnet 10.10.0.0/16 --ip-range "10.10.$i.0/24" wnet >/dev/null
  done
else
  say "building the managed plugin (cache ${WEFT_IMAGE_CACHE:-/var/cache/weft-images})"
  pdir="$parent/plugin"
  DOCKER_HOST="$TB_h1_DOCKER_HOST" DOCKER_CONFIG="$TB_DIR/cli" DOCKER="${TB_DOCKER_CLI:-/usr/bin/docker}" \
    "$E2E_REPO/packaging/build-plugin.sh" --offline --network none --cache "${WEFT_IMAGE_CACHE:-/var/cache/weft-images}" \
    --keep-dir "$pdir" weft >/dev/null 2>"$parent/build.log" ||
    { tail -n 20 "$parent/build.log" >&2; echo "throughput_vs_overlay: build-plugin.sh failed" >&2; exit 1; }
  d h2 plugin create weft "$pdir" >/dev/null
  for i in 1 2; do
    d "h$i" plugin set weft SCOPE=global "ADVERTISE_ADDR=$(haddr "h$i")" "KEY=$key" >/dev/null
    d "h$i" plugin enable weft >/dev/null
  done
  wnet=appnet
fi
say "swarm, Docker's overlay network$([[ $mode == managed ]] && echo " and weft's appnet")"
d h1 swarm init --advertise-addr "$TB_h1_ADDR" >/dev/null
token="$(d h1 swarm join-token -q worker)"
d h2 swarm join --token "$token" --advertise-addr "$TB_h2_ADDR" "$TB_h1_ADDR:2377" >/dev/null
d h1 network create -d overlay --attachable --subnet 10.30.0.0/16 onet >/dev/null
[[ $mode == managed ]] && d h1 network create -d weft:latest --attachable --subnet 10.40.0.0/16 appnet >/dev/null

# The iperf3 server on h2 and the client on h1, per network: standalone
# containers, or (managed) the tasks of a global service running both.
declare -A server_ip mtu srv cli
for net in "$wnet" onet; do
  if [[ $mode == legacy ]]; then
    d h2 run -d --name "srv-$net" --network "$net" --tmpfs /tmp busybox:local iperf3 -s >/dev/null
    d h1 run -d --name "cli-$net" --network "$net" --tmpfs /tmp busybox:local sleep 3600 >/dev/null
    srv[$net]="srv-$net" cli[$net]="cli-$net"
  else
    d h1 service create -d --name "ip-$net" --mode global --network "$net" --mount type=tmpfs,dst=/tmp \
      busybox:local iperf3 -s >/dev/null 2>&1
    for _ in $(seq 1 150); do
      srv[$net]="$(d h2 ps -q -f "label=com.docker.swarm.service.name=ip-$net" | head -n1)"
      cli[$net]="$(d h1 ps -q -f "label=com.docker.swarm.service.name=ip-$net" | head -n1)"
      [[ -n ${srv[$net]} && -n ${cli[$net]} ]] && break
      sleep 0.2
    done
    [[ -n ${srv[$net]} && -n ${cli[$net]} ]] || { echo "throughput_vs_overlay: ip-$net tasks did not start on both hosts" >&2; exit 1; }
  fi
  server_ip[$net]="$(d h2 inspect -f "{{(index .NetworkSettings.Networks \"$net\").IPAddress}}" "${srv[$net]}")"
  mtu[$net]="$(d h1 exec "${cli[$net]}" cat /sys/class/net/eth0/mtu)"
  for _ in $(seq 1 50); do
    d h1 exec "${cli[$net]}" ping -c 1 -W 1 "${server_ip[$net]}" >/dev/null 2>&1 && break
    sleep 0.2
  done
done

declare -A results
for r in $(seq 1 "$runs"); do
  for net in "$wnet" onet; do
    out="$(d h1 exec "${cli[$net]}" iperf3 -c "${server_ip[$net]}" -t "$secs" -f m 2>&1)" || {
      echo "throughput_vs_overlay: iperf3 on $net failed: $out" >&2
      exit 1
    }
    mbps="$(awk '/receiver/ {print $(NF-2)}' <<<"$out" | tail -n 1)"
    say "run $r $net: $mbps Mbit/s"
    results[$net]+="$mbps "
  done
done

median() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
w="$(median "${results[$wnet]}")"
o="$(median "${results[onet]}")"
echo "# iperf3 TCP, 1 stream, ${secs} s x $runs runs, h1 -> h2 across the underlay; weft $mode; $(uname -r), $(nproc) cpus"
printf '%-22s %6s %14s   %s\n' "network" "MTU" "median Mbit/s" "runs"
printf '%-22s %6s %14s   %s\n' "weft ($wnet)" "${mtu[$wnet]}" "$w" "${results[$wnet]}"
printf '%-22s %6s %14s   %s\n' "overlay (swarm)" "${mtu[onet]}" "$o" "${results[onet]}"
awk -v w="$w" -v o="$o" 'BEGIN { if (o > 0) printf "weft / overlay: %.2fx (target >= 1.0x)\n", w / o }'
