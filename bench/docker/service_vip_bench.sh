#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2154
# (SC2154: the bed's variables, TB_h1_ADDR ..., come from its env file.)
# Service VIPs on weft (issue 13): how soon a new backend gets traffic, and
# what the VIP path costs. A 3-node swarm with the managed plugin, built as
# the managed e2e tests build it (tests/e2e/managed_lib.sh): h1 manager, h2
# and h3 workers; network vipnet (-d weft:latest --attachable); service be
# (busybox httpd serving its hostname, replicas on h2/h3); a client
# container on h1. Its own bed; torn down at the end, also on failure.
#
#   bench/docker/service_vip_bench.sh [TRIALS] [SAMPLES]   (as root; 20, 300)
#
# (a) scale-up -> traffic, TRIALS trials (+1 warm-up, not counted): be at 2
#     replicas, the client (bench/docker/service_vip_client.py, in the
#     client container's network namespace, where weft programs the VIP)
#     connects to be's VIP back to back; then `docker service scale -d
#     be=3`. Per trial: from the issue of that command, from its return, and
#     from the new task's container start (Docker's State.StartedAt) to the
#     start of the client's first connection that the new task answered.
#     All clocks are CLOCK_REALTIME of this one machine (date +%s%N,
#     time.time_ns, dockerd's timestamps). Then be=2 and the system settles
#     (2 tasks running, h1's weft shows 2 backends, 2 s); the client runs
#     on through the scale-down and counts the connections that failed (sent
#     to the leaving task once it no longer served). A trial whose new
#     task gets no traffic within 30 s is reported as a stall (with weft's
#     and Docker's views), as is a scale-down that does not settle in 60 s.
# (b) VIP vs task IP, SAMPLES rounds, interleaved (same client, alternating
#     which goes first): ICMP echo RTT, TCP connect, HTTP request on a new
#     connection, to a one-replica service's VIP and to its task's IP; the
#     task on h2 (another host) and on h1 (the client's host).
# (c) a brand-new container's first connection: FIRST (default 20) times
#     `docker run --network vipnet` a container whose process sends an HTTP
#     request to be's VIP (nc; then, a second series, `ping -c 1 <VIP>`): weft
#     programs the VIP only once the namespace exists (Docker calls Join
#     before), so a first packet sent before that is not translated, and
#     conntrack keeps a TCP connection untranslated: it fails with
#     EHOSTUNREACH after 3 s (bench/kernel/vip_first_packet.sh shows it
#     without Docker). Counts the containers whose request went unanswered.
# (d) the same for `docker network connect vipnet` of a running container
#     (FIRST times, a new container each): the client, in its namespace,
#     sends requests to the VIP from the moment the route to vipnet appears;
#     counts the trials where one was lost (EHOSTUNREACH/timeout), and the
#     time from the route to the first answer.
#
# Prints "RESULT ..." lines (p50/p99/max in ms or us) and the machine's load.
# Environment: FIRST, WEFT_IMAGE_CACHE, WEFT_E2E_PLUGIN_REBUILD (managed_lib.sh).
# shellcheck source=../../tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../tests/e2e/lib.sh"
# shellcheck source=../../tests/e2e/weft_lib.sh
source "$E2E_LIB_DIR/weft_lib.sh"
# shellcheck source=../../tests/e2e/managed_lib.sh
source "$E2E_LIB_DIR/managed_lib.sh"
client_py="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/service_vip_client.py"
trials="${1:-20}"
samples="${2:-300}"
first_n="${FIRST:-20}"
((trials >= 1 && trials <= 500)) || { echo "service_vip_bench: TRIALS must be 1..500" >&2; exit 2; }
((samples >= 1 && samples <= 100000)) || { echo "service_vip_bench: SAMPLES must be 1..100000" >&2; exit 2; }
((first_n >= 0 && first_n <= 500)) || { echo "service_vip_bench: FIRST must be 0..500" >&2; exit 2; }
managed_require
e2e_require_cmd python3
HOSTS=(h1 h2 h3)
MGR=h1
SRV=(sh -c 'mkdir -p /www && hostname >/www/index.html && exec httpd -f -p 80 -h /www')
say() { echo "# $*" >&2; }
now_ns() { date +%s%N; }
# stats LABEL : p50/p99/max (ms) of the integers (ns) on stdin.
stats() {
  sort -n | awk -v l="$1" '{v[NR] = $1} END {
    if (NR == 0) { printf "RESULT %s: no samples\n", l; exit }
    i50 = int(NR * 0.50 + 0.5); if (i50 < 1) i50 = 1
    i99 = int(NR * 0.99 + 0.999); if (i99 > NR) i99 = NR; if (i99 < 1) i99 = 1
    printf "RESULT %s: p50 %.1f ms, p99 %.1f ms, max %.1f ms (n=%d)\n", l, v[i50] / 1e6, v[i99] / 1e6, v[NR] / 1e6, NR }'
}
running_tasks() { # SVC : 12-char ids of SVC's running containers, all hosts
  local h
  for h in "${HOSTS[@]}"; do dh "$h" ps -q -f "label=com.docker.swarm.service.name=$1" -f status=running; done |
    cut -c1-12 | sort -u
}
replicas_are() { [[ $(running_tasks "$1" | grep -c .) == "$2" ]] || { echo "$1: $(running_tasks "$1" | grep -c .) running, want $2"; return 1; }; }
# backends_on HOST SVC N : HOST's weft lists N backends for SVC.
backends_on() {
  local got
  got="$(wctl "$1" --json services | jq -r --arg s "$2" '[.networks[].services[] | select(.name == $s) | .backends[]] | length')"
  [[ $got == "$3" ]] || { echo "$1's weft: $2 has $got backends, want $3"; return 1; }
}
# host_of CTR : the host running container CTR.
host_of() {
  local h
  for h in "${HOSTS[@]}"; do dh "$h" inspect "$1" >/dev/null 2>&1 && { echo "$h"; return 0; }; done
  return 1
}
# diagnose SVC : Docker's and h1's weft's view, for a stall report.
diagnose() {
  say "docker service ps $1:"
  dh "$MGR" service ps "$1" --format '{{.ID}} {{.Node}} {{.DesiredState}} {{.CurrentState}} {{.Error}}' | sed 's/^/#   /' >&2
  say "h1's weft services: $(wctl h1 --json services | jq -c '.networks[].services[]' 2>&1 | tr '\n' ' ')"
  say "VIP table in the client: $(nsenter --net="$cns" nft list ruleset 2>&1 | grep -E 'daddr|table' | tr -s ' ' | tr '\n' ';')"
}

say "bed: 3 hosts, the managed plugin, swarm (h1 manager; h2, h3 workers)"
e2e_bed_up 3
managed_build_push
managed_install "${HOSTS[@]}"
KEY="$(new_cluster_key)"
for h in "${HOSTS[@]}"; do
  assert_ok dh "$h" plugin set weft "ADVERTISE_ADDR=$(haddr "$h")" "KEY=$KEY"
  assert_ok dh "$h" plugin enable weft
done
for h in "${HOSTS[@]}"; do wait_until 10 socket_answers "$h"; done
assert_ok dh h1 swarm init --advertise-addr "$TB_h1_ADDR"
tok="$(dh h1 swarm join-token -q worker)"
for h in h2 h3; do assert_ok dh "$h" swarm join --advertise-addr "$(haddr "$h")" --token "$tok" "$TB_h1_ADDR:2377"; done
assert_ok dh h1 network create -d weft:latest --attachable --subnet 10.77.0.0/16 vipnet
assert_ok dh h1 service create -d --name be --network vipnet --replicas 2 --constraint node.role==worker \
  --stop-grace-period 1s busybox:local "${SRV[@]}"
assert_ok dh h1 run -d --name cli --network vipnet busybox:local sleep 86400
cns="/proc/$(dh h1 inspect -f '{{.State.Pid}}' cli)/ns/net"
VIP="$(dh h1 service inspect -f '{{range .Endpoint.VirtualIPs}}{{.Addr}}{{end}}' be)"
VIP="${VIP%%/*}"
assert_match '^10\.77\.[0-9]+\.[0-9]+$' "$VIP" "be's VIP"
wait_until 90 replicas_are be 2
wait_until 30 backends_on h1 be 2
say "be's VIP $VIP; backends $(running_tasks be | tr '\n' ' ')"

# ---------------------------------------------------------------- (a)
settled() { replicas_are be 2 && backends_on h1 be 2; }
res_issue="$E2E_BED_PARENT/a_issue" res_ret="$E2E_BED_PARENT/a_return" res_start="$E2E_BED_PARENT/a_start"
: >"$res_issue"
: >"$res_ret"
: >"$res_start"
res_down="$E2E_BED_PARENT/a_down" res_down_last="$E2E_BED_PARENT/a_down_last"
: >"$res_down"
: >"$res_down_last"
stalls=0 settle_stalls=0
for ((t = 0; t <= trials; t++)); do
  known="$(running_tasks be | paste -sd,)"
  out="$E2E_BED_PARENT/trial.$t"
  nsenter --net="$cns" python3 -u "$client_py" new "$VIP" "$known" 30 >"$out" 2>&1 &
  cpid=$!
  for ((i = 0; i < 100; i++)); do grep -qs '^started' "$out" && break; sleep 0.05; done
  grep -q '^started' "$out" || fail "the client did not start: $(cat "$out")"
  sleep 0.3 # the client's loop is running: traffic before the scale
  t_issue=$(now_ns)
  assert_ok dh "$MGR" service scale -d be=3
  t_ret=$(now_ns)

  wait "$cpid" || true # (its status is in its output)
  line="$(grep -E '^(new|timeout)' "$out" || true)"
  read -r what body t0 _ conns failed _ <<<"$line"
  if [[ $what != new ]]; then
    stalls=$((stalls + 1))
    say "trial $t: STALL: the new task got no traffic in 30 s (client: ${line:-$(cat "$out")})"
    diagnose be
  else
    h="$(host_of "$body")" || h="?"
    started="$(dh "$h" inspect -f '{{.State.StartedAt}}' "$body" 2>/dev/null)" || started=""
    t_start=$(date -d "$started" +%s%N 2>/dev/null) || t_start=""
    say "trial $t: new task $body on $h: from issue $(((t0 - t_issue) / 1000000)) ms, from return $(((t0 - t_ret) / 1000000)) ms, from container start ${t_start:+$(((t0 - t_start) / 1000000))} ms (scale -d took $(((t_ret - t_issue) / 1000000)) ms; $conns connections, $failed failed)"
    if ((t > 0)); then
      echo $((t0 - t_issue)) >>"$res_issue"
      echo $((t0 - t_ret)) >>"$res_ret"
      [[ -n $t_start ]] && echo $((t0 - t_start)) >>"$res_start"
    fi
  fi
  # Scale-down: the client runs on (6 s) and counts the connections that
  # failed -- sent to the leaving task after it stopped serving.
  nsenter --net="$cns" python3 -u "$client_py" run "$VIP" 6 >"$out.down" 2>&1 &
  cpid=$!
  for ((i = 0; i < 100; i++)); do grep -qs '^started' "$out.down" && break; sleep 0.05; done
  sleep 0.3
  t_down=$(now_ns)
  assert_ok dh "$MGR" service scale -d be=2
  wait "$cpid" || true
  read -r what conns failed ffirst flast _ fails <<<"$(grep '^ran' "$out.down" || echo "none")"
  if [[ $what != ran ]]; then
    fail "the scale-down client failed: $(cat "$out.down")"
  elif ((t > 0)); then
    echo "$failed" >>"$res_down"
    if ((failed > 0)); then
      echo $((flast - t_down)) >>"$res_down_last"
      say "trial $t: scale-down: $failed of $conns connections failed, from $(((ffirst - t_down) / 1000000)) to $(((flast - t_down) / 1000000)) ms after scale -d be=2 was issued: $(tr ',' '\n' <<<"$fails" |
        awk -F'@' -v t="$t_down" '{printf "%s at %+d ms; ", $1, ($2 - t) / 1e6}')"
    fi
  fi
  t_settle=$(now_ms)
  while ! settled >/dev/null 2>&1; do
    if (($(now_ms) - t_settle > 60000)); then
      settle_stalls=$((settle_stalls + 1))
      say "trial $t: STALL: be=2 did not settle in 60 s: $(settled 2>&1)"
      diagnose be
      break
    fi
    sleep 0.2
  done
  sleep 2
done
say "load after (a): $(uptime)"
stats "(a) scale -d issued -> new task's first connection" <"$res_issue"
stats "(a) scale -d returned -> new task's first connection" <"$res_ret"
stats "(a) new container started (State.StartedAt) -> its first connection" <"$res_start"
echo "RESULT (a) scale-down be=3->2, connections that failed per trial: $(sort -n "$res_down" | paste -sd' ') (a client connecting back to back)"
stats "(a) scale-down issued -> last failed connection (trials with failures)" <"$res_down_last"
echo "RESULT (a) stalls: $stalls of $((trials + 1)) trials got no traffic to the new task in 30 s; $settle_stalls scale-downs did not settle in 60 s"

# ---------------------------------------------------------------- (b)
for where in h2 h1; do
  svc="one$where"
  assert_ok dh h1 service create -d --name "$svc" --network vipnet --replicas 1 --constraint "node.hostname==$where" \
    --stop-grace-period 1s busybox:local "${SRV[@]}"
  wait_until 90 replicas_are "$svc" 1
  wait_until 30 backends_on h1 "$svc" 1
  vip="$(dh h1 service inspect -f '{{range .Endpoint.VirtualIPs}}{{.Addr}}{{end}}' "$svc")"
  vip="${vip%%/*}"
  tip="$(ctr_ip_on "$where" "$(running_tasks "$svc")" vipnet)"
  say "(b) $svc: VIP $vip, task $tip on $where; $samples rounds"
  nsenter --net="$cns" python3 -u "$client_py" lat "$vip" "$tip" "$samples" >"$E2E_BED_PARENT/lat.$where" ||
    fail "latency client failed: $(cat "$E2E_BED_PARENT/lat.$where")"
  while read -r kind target p50 p99 mean n lost; do
    echo "RESULT (b) task on $where, $kind via $target: p50 $p50 us, p99 $p99 us, mean $mean us (n=$n, lost $lost)"
  done <"$E2E_BED_PARENT/lat.$where"
  assert_ok dh h1 service rm "$svc"
done
say "load after (b): $(uptime)"

# ---------------------------------------------------------------- (c)
# first_series KIND WANT CMD... : FIRST containers whose process is CMD
# (at most a shell before it: its first packet leaves about as early as a
# container's can); one succeeded if it exited 0 and its output holds WANT
# (an extended regex). (Docker's StartedAt..FinishedAt is no duration here:
# dockerd stamps StartedAt after the process has begun, often after it
# ended.)
first_series() {
  local kind="$1" want="$2" i c rc logs failed=0
  shift 2
  for ((i = 0; i < first_n; i++)); do
    c="first$i"
    dh h1 run --name "$c" --network vipnet busybox:local "$@" >/dev/null 2>&1 || true
    rc="$(dh h1 inspect -f '{{.State.ExitCode}}' "$c")" || fail "no container $c: $(dh h1 ps -a 2>&1)"
    logs="$(dh h1 logs "$c" 2>&1 | tr -d '\r')"
    if [[ $rc != 0 ]] || ! grep -qE "$want" <<<"$logs"; then
      failed=$((failed + 1))
      say "(c) $kind #$i FAILED (exit $rc): $(tr '\n' ' ' <<<"$logs")"
    fi
    assert_ok dh h1 rm -f "$c"
  done
  echo "RESULT (c) $kind as a new container's first act: $failed of $first_n failed"
}
if ((first_n > 0)); then
  # shellcheck disable=SC2016  # expanded by the container's shell
  first_series "TCP (HTTP GET) to the VIP" '^[0-9a-f]{12}$' \
    sh -c 'printf "GET / HTTP/1.0\r\n\r\n" | exec nc -w 5 "$0" 80' "$VIP"
  first_series "one ICMP echo to the VIP" ' 0% packet loss' ping -c 1 -W 2 "$VIP"
fi

# ---------------------------------------------------------------- (d)
# A running container connected to vipnet (Join finds its namespace there):
# does a request it sends as soon as it has the route beat weft's table?
if ((first_n > 0)); then
  assert_ok dh h1 network create -d weft:latest --attachable --subnet 10.78.0.0/16 auxnet
  lost_trials=0 att="$E2E_BED_PARENT/attach"
  : >"$att"
  for ((i = 0; i < first_n; i++)); do
    c="att$i"
    assert_ok dh h1 run -d --name "$c" --network auxnet busybox:local sleep 600
    out="$E2E_BED_PARENT/attach.$i"
    nsenter --net="/proc/$(dh h1 inspect -f '{{.State.Pid}}' "$c")/ns/net" \
      python3 -u "$client_py" attach "$VIP" 10.77.0.0 30 >"$out" 2>&1 &
    cpid=$!
    for ((j = 0; j < 100; j++)); do grep -qs '^started' "$out" && break; sleep 0.05; done
    assert_ok dh h1 network connect vipnet "$c"
    wait "$cpid" || true
    read -r what ms lost <<<"$(grep -E '^(attached|timeout)' "$out" || echo "none")"
    if [[ $what != attached || $lost != - ]]; then
      lost_trials=$((lost_trials + 1))
      say "(d) #$i: LOST: $(tr '\n' ' ' <"$out")"
    fi
    [[ $what == attached ]] && echo "$((ms * 1000000))" >>"$att"
    assert_ok dh h1 rm -f "$c"
  done
  echo "RESULT (d) network connect of a running container: $lost_trials of $first_n had a request lost or unanswered (sent after the route to vipnet appeared)"
  stats "(d) route to vipnet appeared -> first answered request via the VIP" <"$att"
fi
say "load at the end: $(uptime)"
e2e_pass
