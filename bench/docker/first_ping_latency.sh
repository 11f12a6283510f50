#!/usr/bin/env bash
# First-ping latency across hosts: how soon after `docker run -d` returns on
# one host is the new container reachable from a container on another host?
# On a 3-host test bed (real dockerd per host, tests/testbed), N trials: on h2
# `docker run -d --ip <fresh IP>` a container; a container on h1 (already
# running) pings that IP every 2 ms from before the run; the time from the
# return of `docker run -d` to the first echo reply is one sample. The same
# with Docker's built-in overlay in swarm mode (h1 manager, h2/h3 workers,
# an --attachable overlay network) on the same hosts, trials interleaved.
# Prints p50/p90/p99/max of both, side by side. Brings up its own bed and
# tears it down.
#
#   bench/docker/first_ping_latency.sh [N]      (as root; default N=50)
#
# Environment: WARMUP (default 2 trials per network, not counted), COLD=1
# (no other container of the network on h2 during a trial: each trial is the
# network's first endpoint there; default: a long-lived container of the
# network runs on h2), WEFT_BIN (default <repo>/build/bin).
#
# How the pinger works: bench/docker/first_ping_pinger.py runs in the h1
# container's network namespace (nsenter, from the host) and sends an ICMP
# echo every 2 ms from just before `docker run` until the first reply from
# the new container's IP, and prints when it came (CLOCK_REALTIME, same clock
# as this script's). Each trial uses a fresh IP (so no ARP cache helps), and
# the pinging container's ARP retransmit time is 5 ms (default 1 s, which
# would quantise every sample to whole seconds, for both networks alike).
# The bed, its teardown and the helpers come from the e2e library
# (tests/e2e/lib.sh, weft_lib.sh).
# shellcheck disable=SC2154  # TB_h1_ADDR and friends: the bed's env file
# shellcheck source-path=SCRIPTDIR source=../../tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../tests/e2e/lib.sh"
# shellcheck source=../../tests/e2e/weft_lib.sh
source "$E2E_LIB_DIR/weft_lib.sh"
pinger="$E2E_REPO/bench/docker/first_ping_pinger.py"
n="${1:-50}"
warmup="${WARMUP:-2}"
cold="${COLD:-0}"
((n >= 1 && n <= 150)) || { echo "first_ping_latency: N must be 1..150" >&2; exit 2; }
e2e_require_multihost
e2e_require_cmd python3
export E2E_DOCKER_TIMEOUT=120
pinger_pids=()
kill_pingers() { local p; for p in "${pinger_pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
e2e_on_exit kill_pingers
say() { echo "# $*" >&2; }

say "bringing up 3 hosts"
e2e_bed_up 3
parent="$E2E_BED_PARENT"
key="$(new_cluster_key)"
for i in 1 2 3; do weft_start_on "h$i" "$key"; done
say "weft network on each host; swarm (h1 manager) and an attachable overlay network"
for i in 1 2 3; do
  dh "h$i" network create -d weft --ipam-driver weft --subnet 10.10.0.0/16 --ip-range "10.10.$i.0/24" wnet >/dev/null
done
dh h1 swarm init --advertise-addr "$TB_h1_ADDR" >/dev/null
token="$(dh h1 swarm join-token -q worker)"
for i in 2 3; do
  dh "h$i" swarm join --token "$token" --advertise-addr "$(haddr "h$i")" "$TB_h1_ADDR:2377" >/dev/null
done
dh h1 network create -d overlay --attachable --subnet 10.30.0.0/16 onet >/dev/null

# The pinging container on h1, on both networks.
dh h1 run -d --name pinger --network wnet busybox:local sleep 86400 >/dev/null
dh h1 network connect onet pinger
ppid="$(dh h1 inspect -f '{{.State.Pid}}' pinger)"
pns="/proc/$ppid/ns/net"
# fast_arp NETNS_FILE : ARP retransmit time 5 ms on every eth* there.
# shellcheck disable=SC2016  # expanded by the inner sh
fast_arp() { nsenter --net="$1" sh -c 'for f in /proc/sys/net/ipv4/neigh/eth*/retrans_time_ms; do echo 5 >"$f"; done'; }
fast_arp "$pns"
# start_pinger NETNS_FILE : a pinger in that namespace, on FIFOs; sets PW
# (its stdin) and PR (its stdout) to descriptors of this shell.
pinger_pids=()
start_pinger() {
  local in out
  in="$parent/pinger.$RANDOM.in" out="$parent/pinger.$RANDOM.out"
  mkfifo "$in" "$out"
  nsenter --net="$1" python3 -u "$pinger" <"$in" >"$out" &
  pinger_pids+=($!)
  exec {PW}>"$in" {PR}<"$out"
  local hello=""
  read -r -t 10 hello <&"$PR" || true
  [[ $hello == ready ]] || { echo "first_ping_latency: pinger did not start" >&2; exit 1; }
}
start_pinger "$pns"
RW=$PW RR=$PR
# In warm mode, a container on h2 on both networks (the long-lived endpoint
# there) also pings each new container: its first (local, same-host) reply
# is the moment the container's network was up; the remote reply's lag
# behind it is what the control plane adds.
if [[ $cold != 1 ]]; then
  dh h2 run -d --name anchor --network wnet busybox:local sleep 86400 >/dev/null
  dh h2 network connect onet anchor
  apid="$(dh h2 inspect -f '{{.State.Pid}}' anchor)"
  fast_arp "/proc/$apid/ns/net"
  start_pinger "/proc/$apid/ns/net"
  LW=$PW LR=$PR
fi

# us : microseconds since the epoch, without a fork.
us() { local t=$EPOCHREALTIME; echo "${t/./}"; }
declare -A subnet=([wnet]=10.10.2 [onet]=10.30.2)
declare -A samples=()
timeouts=0
# trial NET K : one sample; sets LAT (ms from the return of docker run to the
# first reply; "timeout" if none) and RUNMS (how long docker run -d took).
# (Not run in $(...): the coprocess' descriptors do not reach subshells.)
LAT="" RUNMS="" FROM_START="" FROM_PROC="" BEHIND_LOCAL=""
trial() {
  local net="$1" k="$2" ip t0 t1 res ts name started
  ip="${subnet[$net]}.$((10 + k))"
  name="t-$net-$k"
  echo "go $ip 2" >&"$RW"
  [[ $cold == 1 ]] || echo "go $ip 2" >&"$LW"
  t0=$(us)
  dh h2 run -d --name "$name" --network "$net" --ip "$ip" busybox:local sleep 3600 >/dev/null
  t1=$(us)
  read -r -t 30 res ts _ <&"$RR" || res=none
  local lres=none lts=0
  [[ $cold == 1 ]] || read -r -t 30 lres lts _ <&"$LR" || lres=none
  started="$(date -d "$(dh h2 inspect -f '{{.State.StartedAt}}' "$name")" +%s%N)"
  dh h2 rm -f "$name" >/dev/null
  RUNMS=$(((t1 - t0) / 1000))
  if [[ $res != reply ]]; then
    LAT=timeout
    return 0
  fi
  read -r LAT FROM_START FROM_PROC <<<"$(awk -v r="$ts" -v t0="$t0" -v t1="$t1" -v s="$started" 'BEGIN {
    printf "%.1f %.1f %.1f", (r / 1000 - t1) / 1000, (r / 1000 - t0) / 1000, (r - s) / 1e6 }')"
  BEHIND_LOCAL=""
  [[ $lres == reply ]] && BEHIND_LOCAL="$(awk -v r="$ts" -v l="$lts" 'BEGIN { printf "%.1f", (r - l) / 1e6 }')"
  return 0
}

say "warm-up: $warmup trial(s) per network"
k=0
for ((i = 0; i < warmup; i++)); do
  trial wnet $k
  trial onet $k
  k=$((k + 1))
done
say "$n trials per network, interleaved (h2: docker run -d; h1: first echo reply)"
for ((i = 0; i < n; i++)); do
  order=(wnet onet)
  ((i % 2)) && order=(onet wnet)
  for net in "${order[@]}"; do
    trial "$net" $k
    lat=$LAT runms=$RUNMS
    if [[ $lat == timeout ]]; then
      timeouts=$((timeouts + 1))
      echo "# trial $i $net: no reply within 30 s" >&2
      continue
    fi
    samples[$net.ret]+="$lat "
    samples[$net.start]+="$FROM_START "
    samples[$net.proc]+="$FROM_PROC "
    samples[$net.run]+="$runms "
    [[ -z $BEHIND_LOCAL ]] || samples[$net.local]+="$BEHIND_LOCAL "
  done
  k=$((k + 1))
  if (((i + 1) % 10 == 0)); then say "$((i + 1))/$n"; fi
done
echo quit >&"$RW" || true
[[ $cold == 1 ]] || echo quit >&"$LW" || true

# stats VALUES... : "p50 p90 p99 max min" (nearest rank)
stats() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
    function r(p) { i = int(p * NR + 0.999999); if (i < 1) i = 1; return v[i] }
    END { printf "%.1f %.1f %.1f %.1f %.1f\n", r(0.5), r(0.9), r(0.99), v[NR], v[1] }'
}
# clamp0 VALUES... : negative values (reachable before the reference) as 0
clamp0() { local v; for v in "$@"; do [[ $v == -* ]] && echo 0 || echo "$v"; done; }
negatives() { local v c=0; for v in "$@"; do [[ $v == -* ]] && c=$((c + 1)); done; echo "$c"; }
mode="warm: a long-lived container of the network runs on h2"
[[ $cold == 1 ]] && mode="cold: each trial is the network's only container on h2"
# shellcheck disable=SC2086,SC2046  # word splitting of the sample lists is intended
{
  read -r wn <<<"$(wc -w <<<"${samples[wnet.ret]:-}")"
  read -r on <<<"$(wc -w <<<"${samples[onet.ret]:-}")"
  echo "# time until a container on h1 gets its first echo reply from a new container on h2"
  echo "# $wn weft + $on overlay samples ($mode); $(uname -r), $(nproc) cpus"
  printf '%-16s %-34s %8s %8s %8s %8s %8s\n' "network" "measured from" "p50" "p90" "p99" "max" "min"
  for net in wnet onet; do
    label=weft
    [[ $net == onet ]] && label="overlay (swarm)"
    read -r a b c m lo <<<"$(stats $(clamp0 ${samples[$net.ret]}))"
    printf '%-16s %-34s %5s ms %5s ms %5s ms %5s ms %5s ms\n' "$label" "docker run -d returned (>= 0)" "$a" "$b" "$c" "$m" "$lo"
    if [[ -n ${samples[$net.local]:-} ]]; then
      read -r a b c m lo <<<"$(stats ${samples[$net.local]})"
      printf '%-16s %-34s %5s ms %5s ms %5s ms %5s ms %5s ms\n' "" "first reply on h2 itself (local)" "$a" "$b" "$c" "$m" "$lo"
    fi
    read -r a b c m lo <<<"$(stats ${samples[$net.proc]})"
    printf '%-16s %-34s %5s ms %5s ms %5s ms %5s ms %5s ms\n' "" "container started (State.StartedAt)" "$a" "$b" "$c" "$m" "$lo"
    read -r a b c m lo <<<"$(stats ${samples[$net.start]})"
    printf '%-16s %-34s %5s ms %5s ms %5s ms %5s ms %5s ms\n' "" "docker run -d invoked" "$a" "$b" "$c" "$m" "$lo"
    read -r a b c m lo <<<"$(stats ${samples[$net.run]})"
    printf '%-16s %-34s %5s ms %5s ms %5s ms %5s ms %5s ms\n' "" "(docker run -d itself took)" "$a" "$b" "$c" "$m" "$lo"
    echo "                 already answering when docker run -d returned: $(negatives ${samples[$net.ret]}) of $(wc -w <<<"${samples[$net.ret]}") trials"
  done
  ((timeouts == 0)) || echo "trials without any reply within 30 s: $timeouts (not in the numbers above)"
  read -r w50 _ w99 _ _ <<<"$(stats $(clamp0 ${samples[wnet.ret]}))"
  read -r o50 _ o99 _ _ <<<"$(stats $(clamp0 ${samples[onet.ret]}))"
  read -r ws50 _ ws99 _ _ <<<"$(stats ${samples[wnet.proc]})"
  read -r os50 _ os99 _ _ <<<"$(stats ${samples[onet.proc]})"
  verdict() { awk -v x="$1" -v t="$2" 'BEGIN { print (x < t) ? "met" : ((x == t) ? "tie" : "NOT met") }'; }
  echo "targets (from docker run -d returned): weft p50 < 50 ms: $(verdict "$w50" 50); weft p99 < 200 ms: $(verdict "$w99" 200);" \
    "ahead of overlay: p50 $(verdict "$w50" "$o50"), p99 $(verdict "$w99" "$o99")"
  echo "from container start: weft p50 $ws50 ms vs overlay $os50 ms; p99 $ws99 ms vs $os99 ms"
  if [[ -n ${samples[wnet.local]:-} && -n ${samples[onet.local]:-} ]]; then
    read -r wl50 _ wl99 _ _ <<<"$(stats ${samples[wnet.local]})"
    read -r ol50 _ ol99 _ _ <<<"$(stats ${samples[onet.local]})"
    echo "behind the first local reply on h2 (what the control plane adds): weft p50 $wl50 ms vs overlay $ol50 ms; p99 $wl99 ms vs $ol99 ms"
  fi
}
