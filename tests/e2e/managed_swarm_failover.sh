#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2154
# (SC2154: the bed's variables, TB_h1_ADDR ..., come from its env file.)
# weft's managed plugin in a swarm of three managers (issue 5): leader
# failover and daemon restarts.
#
#  1. build+push the plugin (rootfs cache), install it on h1..h3 (SCOPE=global,
#     LOG_LEVEL=debug), swarm init on h1, h2 and h3 join as managers;
#  2. on the leader h1: `network create -d weft:latest --attachable -o vni=N
#     appnet`; a global service (a task on every host): tasks reach each
#     other by IP and by tasks.app;
#  3. leader failover: h1's dockerd stops; a new leader is elected (timed);
#     its AllocateNetwork answer for appnet is the same as h1's (both logged
#     by weft), `network inspect` shows the same options there; on the new
#     leader app is updated (new tasks on appnet), and a second network
#     (VNI chosen by weft) with a second service (dnsrr) is created: tasks
#     reach each other by IP, by tasks.<svc> and by service name;
#  4. h1's dockerd starts again: it rejoins as a manager and its new tasks
#     reach the others;
#  5. the manager of h2/h3 that is not the leader is demoted to a worker and
#     its dockerd restarted (SIGTERM, then SIGKILL): its weft gets
#     CreateNetwork again for both networks (timed), its tasks restart and
#     reach the others; after the SIGKILL, the dead tasks' endpoints (no
#     Leave ever comes for them) are forgotten there and no longer routed to
#     by the other hosts.
#
# Prints the time to a new leader, for the old leader and its tasks to come
# back, and for a worker's networks and tasks to come back after a restart.
# Takes (2 cores): 1.5-2 min when the plugin rootfs cache hits, ~2 min more
# when the plugin must be built (docker build).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$E2E_LIB_DIR/weft_lib.sh"
source "$E2E_LIB_DIR/managed_lib.sh"

managed_require
e2e_bed_up 3
HOSTS=(h1 h2 h3)
MGR=h1
VNI=3210 # appnet's -o vni

# ---------------------------------------------------------------- helpers
# leader_seen_by HOST : hostname of the swarm's leader as HOST sees it.
leader_seen_by() { dh "$1" node ls --format '{{.Hostname}} {{.ManagerStatus}}' | awk '$2 == "Leader" {print $1}'; }
# new_leader_on HOST OLD : HOST sees a leader other than OLD (for wait_until).
new_leader_on() {
  local l
  l="$(leader_seen_by "$1")" || return 1
  [[ -n $l && $l != "$2" ]] || { echo "leader: '${l:-none}'"; return 1; }
}
# node_is HOST NODE STATUS AVAILABILITY MANAGER_STATUS : as HOST's manager sees NODE.
node_is() {
  local got
  got="$(dh "$1" node inspect -f '{{.Status.State}} {{.Spec.Availability}} {{with .ManagerStatus}}{{.Reachability}}{{else}}worker{{end}}' "$2")" || return 1
  [[ $got == "$3" ]] || { echo "$2: $got"; return 1; }
}
# plugin_log HOST : what HOST's plugin wrote since its dockerd.log was marked (mark_log HOST).
declare -A LOGMARK
mark_log() { LOGMARK[$1]="$(wc -l <"$(hvar "$1" DIR)/dockerd.log")"; }
plugin_log() { tail -n +"$((${LOGMARK[$1]:-0} + 1))" "$(hvar "$1" DIR)/dockerd.log" | grep -F "plugin=$(dh "$1" plugin inspect -f '{{.Id}}' weft)"; }
# allocated_line HOST NETID : weft's log line for AllocateNetwork of NETID on HOST.
allocated_line() { plugin_log "$1" | grep -o "allocated network ${2:0:12}: .*" | sed 's/\\*".*//' | tail -n1; }
# weft_vni HOST NETID : the VNI HOST's weft gave network NETID ("" if it has none).
weft_vni() { wctl "$1" --json networks | jq -r --arg id "$2" '.networks[] | select(.id == $id) | .vni'; }
has_weft_net() { [[ -n $(weft_vni "$1" "$2") ]] || { echo "$1's weft has no network ${2:0:12}"; return 1; }; }
# svc_ips SVC NET HOST... : fills TASK[HOST] and TIP[HOST] for SVC's task on each HOST.
declare -A TASK TIP
svc_ips() {
  local svc="$1" net="$2" h
  shift 2
  for h in "$@"; do
    TASK[$h]="$(task_on "$h" "$svc")" || fail "no running task of $svc on $h"
    TIP[$h]="$(ctr_ip_on "$h" "${TASK[$h]}" "$net")"
    [[ -n ${TIP[$h]} ]] || fail "$svc's task on $h has no address on $net"
  done
  log "$svc on $net: $(for h in "$@"; do printf '%s=%s ' "$h" "${TIP[$h]}"; done)"
}
# all_ping SVC HOST... : SVC's tasks on the HOSTs reach each other (svc_ips first).
all_ping() {
  local svc="$1" a b
  shift
  for a in "$@"; do
    for b in "$@"; do
      [[ $a == "$b" ]] && continue
      wait_until 20 pings "$a" "${TASK[$a]}" "${TIP[$b]}"
      ping_ok_on "$a" "${TASK[$a]}" "${TIP[$b]}" 2
    done
  done
}
# svc_create NAME ENDPOINT_MODE NETWORK... : a global service whose tasks
# serve their hostname on port 80.
SVC_CMD=(sh -c 'mkdir -p /www && hostname >/www/index.html && exec httpd -f -p 80 -h /www')
svc_create() {
  local name="$1" mode="$2" n args=()
  shift 2
  for n in "$@"; do args+=(--network "$n"); done
  time_it "service create $name" assert_ok dh "$MGR" service create -d --name "$name" --mode global \
    --endpoint-mode "$mode" --stop-grace-period 1s "${args[@]}" busybox:local "${SVC_CMD[@]}"
}
# updated_on HOST... : app's running task on each HOST is the updated one.
updated_on() {
  local h c
  for h in "$@"; do
    c="$(task_on "$h" app)" || return 1
    [[ $(dh "$h" inspect -f '{{range .Config.Env}}{{if eq . "GEN=2"}}{{.}}{{end}}{{end}}' "$c") == GEN=2 ]] ||
      { echo "app's task on $h is not the updated one"; return 1; }
  done
}
# http_from HOST CTR TARGET : body served at TARGET:80, fetched in CTR on HOST.
http_from() { dh "$1" exec "$2" sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 2 $3 80" | tr -d '\r' | tail -n 1; }

# vip_serves HOST CTR SVC TASK... : requests to SVC by name -- its virtual IP
# -- from CTR on HOST reach exactly the TASKs (container ids), each one (for
# wait_until). weft programs the VIP in CTR's namespace (issue 13).
vip_serves() {
  local h="$1" c="$2" svc="$3" want got="" i
  shift 3
  want="$(for i in "$@"; do echo "${i:0:12}"; done | sort -u)"
  for ((i = 0; i < 3 * $#; i++)); do got+="$(http_from "$h" "$c" "$svc" 2>/dev/null || true)"$'\n'; done
  got="$(grep . <<<"$got" | sort -u || true)"
  [[ $got == "$want" ]] || {
    echo "via $svc's VIP from $h: got [${got//$'\n'/ }], want [${want//$'\n'/ }]; $h's weft: $(wctl "$h" --json services | jq -c . 2>&1); $svc resolves in $c to: $(dh "$h" exec "$c" nslookup "$svc" 127.0.0.11 2>&1 | grep -A1 Name | tr '\n' ' '); VIP tables: $(vip_tables_of "$h" "$c" | tr '\n' ' ')"
    return 1
  }
}
# vip_table_of HOST CTR : the weft VIP tables in CTR's network namespace.
vip_tables_of() {
  local pid
  pid="$(dh "$1" inspect -f '{{.State.Pid}}' "$2")" || return 1
  nsenter -t "$pid" -n nft list tables | grep -o 'weft-svc-[0-9a-zA-Z_-]*' || true
}

# no_stale_endpoints HOST : HOST's weft keeps exactly the endpoints of the
# containers Docker runs there (for wait_until).
no_stale_endpoints() {
  local d w c
  w="$(wctl "$1" --json endpoints | jq -r '.endpoints[].id' | sort)"
  d="$(for c in $(dh "$1" ps -q); do
    dh "$1" inspect -f '{{range .NetworkSettings.Networks}}{{println .EndpointID}}{{end}}' "$c"
  done | grep . | sort)"
  [[ $w == "$d" ]] || { echo "$1: weft's endpoints:"$'\n'"$w"$'\n'"Docker's:"$'\n'"$d"; return 1; }
}

# no_stale_remotes HOST OWNER : the endpoints HOST has programmed towards
# OWNER's VTEP are all live endpoints of OWNER's weft (for wait_until).
no_stale_remotes() {
  local r live
  r="$(wctl "$1" --json peers | jq -r --arg v "$(haddr "$2")" '.remoteEndpoints[] | select(.vtep == $v) | .endpoint' | sort)"
  live="$(wctl "$2" --json endpoints | jq -r '.endpoints[] | select(.joined) | .id' | sort)"
  [[ -z $(comm -23 <(echo "$r") <(echo "$live")) ]] || { echo "$1 still routes to $2:"$'\n'"$(comm -23 <(echo "$r") <(echo "$live"))"; return 1; }
}

# ---------------------------------------------------------------- 1. setup
step "build, push, install on h1..h3 (SCOPE=global, LOG_LEVEL=debug)"
managed_build_push
managed_install "${HOSTS[@]}"
KEY="$(new_cluster_key)"
for h in "${HOSTS[@]}"; do
  assert_ok dh "$h" plugin set weft "ADVERTISE_ADDR=$(haddr "$h")" "KEY=$KEY" LOG_LEVEL=debug
  time_it "enable $h" assert_ok dh "$h" plugin enable weft
done
for h in "${HOSTS[@]}"; do wait_until 10 socket_answers "$h"; done

step "swarm of three managers"
time_it "swarm init" assert_ok dh h1 swarm init --advertise-addr "$TB_h1_ADDR"
tok="$(dh h1 swarm join-token -q manager)"
for h in h2 h3; do
  time_it "swarm join $h (manager)" assert_ok dh "$h" swarm join --advertise-addr "$(haddr "$h")" --token "$tok" "$TB_h1_ADDR:2377"
done
for h in "${HOSTS[@]}"; do wait_until 30 node_is h1 "$h" "ready active reachable"; done
assert_eq h1 "$(leader_seen_by h2)" "leader before the failover"

# ---------------------------------------------------------------- 2. network + service
step "on the leader h1: network appnet (-o vni=$VNI), global service app"
for h in "${HOSTS[@]}"; do mark_log "$h"; done
time_it "network create appnet" assert_ok dh h1 network create -d weft:latest --attachable -o "vni=$VNI" --subnet 10.88.0.0/24 appnet
NET1="$(dh h1 network inspect -f '{{.Id}}' appnet)"
opts_h1="$(dh h1 network inspect -f '{{json .Options}}' appnet)"
log "appnet ${NET1:0:12} on h1: options $opts_h1"
assert_eq "$VNI" "$(jq -r '.vni' <<<"$opts_h1")" "appnet's options on h1"
alloc_h1="$(allocated_line h1 "$NET1")"
assert_contains "$alloc_h1" "vni=$VNI" "h1's weft answered AllocateNetwork for appnet"
svc_create app vip appnet
time_it "app on 3 nodes" wait_until 90 svc_on_hosts app "${HOSTS[@]}"
for h in "${HOSTS[@]}"; do
  wait_until 10 has_weft_net "$h" "$NET1"
  assert_eq "$VNI" "$(weft_vni "$h" "$NET1")" "appnet's VNI in $h's weft"
done
svc_ips app appnet "${HOSTS[@]}"
all_ping app "${HOSTS[@]}"
wait_until 30 resolves h1 "${TASK[h1]}" tasks.app "${TIP[@]}"
ping_ok_on h2 "${TASK[h2]}" tasks.app 2

step "service VIP: app (--endpoint-mode vip) by name from every host reaches all its tasks"
VIP="$(dh h1 service inspect -f '{{range .Endpoint.VirtualIPs}}{{.Addr}}{{end}}' app)"
VIP="${VIP%%/*}"
assert_match '^10\.88\.0\.[0-9]+$' "$VIP" "app's VIP on appnet"
wait_until 10 resolves h2 "${TASK[h2]}" app "$VIP"
for h in "${HOSTS[@]}"; do
  time_it "VIP serves on $h" wait_until 10 vip_serves "$h" "${TASK[$h]}" app "${TASK[@]}"
done
ping_ok_on h3 "${TASK[h3]}" app 2  # the VIP answers ping, as on Docker's overlay
svcs="$(wctl h2 --json services)"
assert_eq "$VIP" "$(jq -r '.networks[].services[] | select(.name == "app") | .vip' <<<"$svcs")" "weftctl services: app's VIP on h2"
assert_eq "$(printf '%s\n' "${TIP[@]}" | sort | paste -sd,)" \
  "$(jq -r '.networks[].services[] | select(.name == "app") | .backends | sort | join(",")' <<<"$svcs")" "weftctl services: app's backends on h2"
log "weftctl services on h2:"$'\n'"$(wctl h2 services)"

# ---------------------------------------------------------------- 2b. service VIPs
# Issue 13's sequence as a user types it: a plain (not attachable) network,
# a replicated service, reached by name -- its VIP -- from another service's
# task on a node that runs none of it; scaled; a task killed. Then the same
# from a standalone container on an attachable network, and a stack.
running_tasks() { # SVC : hostnames (12-char ids) of SVC's running containers on all hosts
  local h
  for h in "${HOSTS[@]}"; do dh "$h" ps -q -f "label=com.docker.swarm.service.name=$1" -f status=running; done |
    cut -c1-12 | sort -u
}
# hits HOST CTR NAME N : the bodies of N connections to NAME:80 from CTR, one per line.
hits() {
  dh "$1" exec "$2" sh -c 'i=0; while [ $i -lt '"$4"' ]; do printf "GET / HTTP/1.0\r\n\r\n" |
    nc -w 2 '"$3"' 80 | tr -d "\r" | tail -n 1; i=$((i + 1)); done'
}
# reaches_exactly HOST CTR NAME N [SVC] : N connections to NAME reach every
# running task of service SVC (default NAME; a stack's service is
# <stack>_<name>) and nothing else (for wait_until).
reaches_exactly() {
  local want got
  want="$(running_tasks "${5:-$3}")"
  got="$(hits "$1" "$2" "$3" "$4" | grep . | sort | uniq -c)"
  [[ $(awk '{print $2}' <<<"$got") == "$want" ]] || { echo "$3 via its VIP: [${got//$'\n'/;}], running: [${want//$'\n'/ }]"; return 1; }
}
replicas_are() { [[ $(running_tasks "$1" | grep -c .) == "$2" ]] || { echo "$1: $(running_tasks "$1" | grep -c .) running, want $2"; return 1; }; }
# vip_scenario NET SVC FROMHOST FROMCTR : SVC (2 replicas on NET) reached by
# name from FROMCTR, over 100 connections; scaled to 3; a task killed.
vip_scenario() {
  local net="$1" svc="$2" fh="$3" fc="$4" victim vh
  # The client task has just started: its VIP table follows the engine's
  # view of the new service within one poll (1 s), so wait for the first echo.
  wait_until 10 pings "$fh" "$fc" "$svc"
  ping_ok_on "$fh" "$fc" "$svc" 2
  time_it "$svc: 100 connections reach both replicas" wait_until 15 reaches_exactly "$fh" "$fc" "$svc" 100
  log "$svc from $fh/$fc, 100 connections: $(hits "$fh" "$fc" "$svc" 100 | grep . | sort | uniq -c | tr '\n' ';')"
  time_it "service scale $svc=3" assert_ok dh "$MGR" service scale -d "$svc=3"
  wait_until 60 replicas_are "$svc" 3
  time_it "$svc: the third replica reached" wait_until 10 reaches_exactly "$fh" "$fc" "$svc" 30
  victim="$(running_tasks "$svc" | head -n1)"
  for vh in "${HOSTS[@]}"; do dh "$vh" kill "$victim" >/dev/null 2>&1 && break; done
  log "killed $svc's task $victim on $vh"
  # (the running tasks no longer include the killed one: reached exactly
  # means it is not chosen)
  time_it "$svc: the killed task is no longer chosen" wait_until 10 reaches_exactly "$fh" "$fc" "$svc" 30
}

step "service VIPs: uber-net, service test (--replicas 2), reached by name from a node without a test task"
assert_ok dh "$MGR" network create -d weft:latest uber-net
assert_ok dh "$MGR" service create -d --name test --network uber-net --replicas 2 --stop-grace-period 1s \
  busybox:local "${SVC_CMD[@]}"
svc_create client vip uber-net
time_it "test: 2 replicas running" wait_until 90 replicas_are test 2
time_it "client on every node" wait_until 90 svc_on_hosts client "${HOSTS[@]}"
FREE=""
for h in "${HOSTS[@]}"; do
  [[ -z $(dh "$h" ps -q -f label=com.docker.swarm.service.name=test) ]] && FREE="$h" && break
done
[[ -n $FREE ]] || fail "every node runs a test task"
vip_scenario uber-net test "$FREE" "$(task_on "$FREE" client)"

step "service VIPs from a standalone container on an attachable network (appnet)"
assert_ok dh "$MGR" service create -d --name test2 --network appnet --replicas 2 --stop-grace-period 1s \
  busybox:local "${SVC_CMD[@]}"
wait_until 90 replicas_are test2 2
assert_ok dh h1 run -d --name std --network appnet busybox:local sleep 600
vip_scenario appnet test2 h1 std
assert_ok dh h1 rm -f std

step "docker stack deploy (compose, driver weft:latest, VIP services); docker stack rm leaves nothing"
cat >"$E2E_BED_PARENT/stack.yml" <<'YML'
version: "3.8"
services:
  web:
    image: busybox:local
    command: ["sh", "-c", "mkdir -p /www && hostname >/www/index.html && exec httpd -f -p 80 -h /www"]
    stop_grace_period: 1s
    deploy: {replicas: 2}
    networks: [back]
  probe:
    image: busybox:local
    command: ["sleep", "600"]
    stop_grace_period: 1s
    deploy: {mode: global}
    networks: [back]
networks:
  back:
    driver: weft:latest
YML
time_it "stack deploy" assert_ok dh "$MGR" stack deploy -c "$E2E_BED_PARENT/stack.yml" st
STNET="$(dh "$MGR" network inspect -f '{{.Id}}' st_back)"
time_it "st_web: 2 running" wait_until 90 replicas_are st_web 2
time_it "st_probe on every node" wait_until 90 svc_on_hosts st_probe "${HOSTS[@]}"
for h in "${HOSTS[@]}"; do
  time_it "web by name from $h" wait_until 15 reaches_exactly "$h" "$(task_on "$h" st_probe)" web 20 st_web
done
time_it "stack rm" assert_ok dh "$MGR" stack rm st
stack_gone() {
  local h c
  for h in "${HOSTS[@]}"; do
    [[ -z $(dh "$h" ps -q -f label=com.docker.stack.namespace=st) ]] || { echo "$h still runs st's containers"; return 1; }
    wctl "$h" --json networks | jq -e --arg id "$STNET" 'any(.networks[]; .id == $id)' >/dev/null &&
      { echo "$h's weft still has st_back"; return 1; }
    [[ -z $(wctl "$h" --json peers | jq -r --arg id "$STNET" '.remoteEndpoints[] | select(.network == $id) | .endpoint') ]] ||
      { echo "$h still routes st_back's endpoints"; return 1; }
    for c in $(dh "$h" ps -q); do
      ! vip_tables_of "$h" "$c" | grep -q "weft-svc-${STNET:0:25}" || { echo "$h/$c holds st_back's VIP table"; return 1; }
    done
  done
}
time_it "st gone everywhere" wait_until 60 stack_gone
assert_ok dh "$MGR" service rm test client test2
wait_until 60 replicas_are test2 0

# ---------------------------------------------------------------- 3. failover
step "leader failover: stop h1's dockerd"
for h in h2 h3; do mark_log "$h"; done
timer_start failover
time_it "dockerd-stop h1" assert_ok tb dockerd-stop h1
timer_start election
wait_until 60 new_leader_on h2 h1
MGR="$(leader_seen_by h2)"
T_LEADER="$(timer_ms failover)"
log "RESULT new leader $MGR: $T_LEADER ms after h1's dockerd was told to stop ($(timer_ms election) ms after it exited)"
echo "new leader $T_LEADER" >>"$E2E_TIMINGS"
OTHER=h2
[[ $MGR == h2 ]] && OTHER=h3
assert_eq "$MGR" "$(leader_seen_by "$OTHER")" "both managers agree on the leader"

step "on the new leader $MGR: same options for appnet, AllocateNetwork gave the same answer"
opts_new="$(dh "$MGR" network inspect -f '{{json .Options}}' appnet)"
assert_eq "$opts_h1" "$opts_new" "appnet's options on the new leader"
allocated_on() { [[ -n $(allocated_line "$1" "$2") ]] || { echo "no AllocateNetwork for ${2:0:12} logged on $1"; return 1; }; }
wait_until 30 allocated_on "$MGR" "$NET1"
assert_eq "$alloc_h1" "$(allocated_line "$MGR" "$NET1")" "AllocateNetwork for appnet on the new leader"

step "on the new leader: network appnet2 (weft picks the VNI), service app2 on both, app updated"
time_it "network create appnet2" assert_ok dh "$MGR" network create -d weft:latest --attachable --subnet 10.89.0.0/24 appnet2
NET2="$(dh "$MGR" network inspect -f '{{.Id}}' appnet2)"
vni2="$(dh "$MGR" network inspect -f '{{index .Options "vni"}}' appnet2)"
assert_match '^[0-9]+$' "$vni2" "appnet2's VNI in its options (AllocateNetwork's answer)"
assert_contains "$(allocated_line "$MGR" "$NET2")" "vni=$vni2" "the new leader's weft allocated appnet2"
# (dnsrr: Docker 20.10 gives service VIPs only on its own overlay networks,
# see below)
svc_create app2 dnsrr appnet2
# All at once: h1's task of a global service stays pending while h1 is down,
# and a one-by-one update would wait for it.
time_it "service update app" assert_ok dh "$MGR" service update -d --update-parallelism 0 --env-add GEN=2 app
time_it "app2 on h2+h3" wait_until 90 svc_on_hosts app2 h2 h3
time_it "app updated on h2+h3" wait_until 90 updated_on h2 h3
for h in h2 h3; do
  wait_until 10 has_weft_net "$h" "$NET2"
  assert_eq "$vni2" "$(weft_vni "$h" "$NET2")" "appnet2's VNI in $h's weft"
  assert_eq "$VNI" "$(weft_vni "$h" "$NET1")" "appnet's VNI in $h's weft"
done
svc_ips app appnet h2 h3
all_ping app h2 h3
svc_ips app2 appnet2 h2 h3
all_ping app2 h2 h3
wait_until 30 resolves h2 "${TASK[h2]}" tasks.app2 "${TIP[h2]}" "${TIP[h3]}"
ping_ok_on h3 "${TASK[h3]}" tasks.app2 2
# By service name: app2 (dnsrr) resolves to its tasks, and serves.
wait_until 30 resolves h3 "${TASK[h3]}" app2 "${TIP[h2]}" "${TIP[h3]}"
body="$(http_from h2 "${TASK[h2]}" app2)"
log "http://app2/ from h2: '$body'"
assert_match '^[0-9a-f]{12}$' "$body" "HTTP to app2 by its name"

# ---------------------------------------------------------------- 4. old leader back
step "h1's dockerd starts again: it rejoins as a manager, its tasks work"
timer_start h1back
time_it "dockerd-start h1" assert_ok tb dockerd-start h1
wait_until 60 node_is "$MGR" h1 "ready active reachable"
log "RESULT h1 ready and reachable again $(timer_ms h1back) ms after dockerd-start"
both_on() { svc_on_hosts app "$@" && svc_on_hosts app2 "$@"; }
time_it "app and app2 on h1 again" wait_until 90 both_on "${HOSTS[@]}"
echo "h1 back with tasks $(timer_ms h1back)" >>"$E2E_TIMINGS"
assert_eq "$MGR" "$(leader_seen_by h1)" "h1 follows the new leader"
assert_eq "$opts_h1" "$(dh h1 network inspect -f '{{json .Options}}' appnet)" "appnet's options on h1"
svc_ips app appnet "${HOSTS[@]}"
all_ping app "${HOSTS[@]}"
svc_ips app2 appnet2 "${HOSTS[@]}"
all_ping app2 "${HOSTS[@]}"
wait_until 30 resolves h1 "${TASK[h1]}" tasks.app2 "${TIP[@]}"
step "service VIP after the update and h1's return: it reaches exactly app's new tasks"
svc_ips app appnet "${HOSTS[@]}" # (TASK[] held app2's tasks)
for h in "${HOSTS[@]}"; do
  time_it "VIP follows on $h" wait_until 30 vip_serves "$h" "${TASK[$h]}" "$VIP" "${TASK[@]}"
done
# A standalone container attached to appnet gets the VIPs too, and loses
# them when it is disconnected (its namespace outlives the network).
assert_ok dh h2 run -d --name vipc --network appnet busybox:local sleep 600
time_it "VIP serves vipc" wait_until 10 vip_serves h2 vipc "$VIP" "${TASK[@]}"
assert_contains "$(vip_tables_of h2 vipc)" "weft-svc-${NET1:0:25}" "vipc holds appnet's VIP table"
assert_ok dh h2 network disconnect appnet vipc
has_no_vip_table() { [[ -z $(vip_tables_of h2 vipc) ]] || { echo "vipc still holds: $(vip_tables_of h2 vipc)"; return 1; }; }
wait_until 5 has_no_vip_table
assert_ok dh h2 rm -f vipc

# ---------------------------------------------------------------- 5. worker restart
WK="$OTHER" # h2 or h3, whichever is not the leader
step "$WK (not the leader) becomes a worker; its dockerd restarts: CreateNetwork again"
assert_ok dh "$MGR" node demote "$WK"
wait_until 30 node_is "$MGR" "$WK" "ready active worker"
created_again() {
  local l
  l="$(plugin_log "$WK")"
  for n in "${NET1:0:12}" "${NET2:0:12}"; do
    grep -qE "created network $n|network $n created again" <<<"$l" || { echo "no CreateNetwork for $n yet"; return 1; }
  done
}
# restart_worker LABEL [--kill] : stops $WK's dockerd (SIGTERM, or SIGKILL)
# and starts it again; weft gets CreateNetwork for both networks, the tasks
# come back and reach the others. Prints and records the times.
restart_worker() {
  local label="$1" n
  shift
  mark_log "$WK"
  time_it "dockerd-stop $WK $*" assert_ok tb dockerd-stop "$WK" "$@"
  timer_start wstart
  time_it "dockerd-start $WK" assert_ok tb dockerd-start "$WK"
  wait_until 90 created_again
  T_NET="$(timer_ms wstart)"
  for n in "$NET1" "$NET2"; do
    assert_ok has_weft_net "$WK" "$n"
  done
  time_it "$WK's tasks running again" wait_until 90 both_on "$WK"
  svc_ips app appnet "${HOSTS[@]}"
  all_ping app "${HOSTS[@]}"
  svc_ips app2 appnet2 h1 "$WK"
  all_ping app2 h1 "$WK"
  T_TASK="$(timer_ms wstart)"
  log "RESULT worker $WK ($label): networks back in weft $T_NET ms, tasks reach the others $T_TASK ms after dockerd-start"
  echo "worker network back ($label) $T_NET" >>"$E2E_TIMINGS"
  echo "worker tasks reach others ($label) $T_TASK" >>"$E2E_TIMINGS"
  plugin_log "$WK" | grep -E "(created network|deleted network|network) (${NET1:0:12}|${NET2:0:12})" | sed "s/^/  $WK weft: /" >&2
  wait_until 30 no_stale_endpoints "$WK"
}
restart_worker "graceful"

step "$WK's dockerd is killed (SIGKILL) and started again"
restart_worker "SIGKILL" --kill
# The killed tasks' endpoints: Docker sent no Leave/DeleteEndpoint for them
# (it does not keep swarm networks); weft forgot them when the network was
# created again, and no host keeps routing their addresses to $WK.
wait_until 30 no_stale_endpoints "$WK"
assert_contains "$(plugin_log "$WK")" "endpoint(s) of containers that are gone" "$WK's weft forgot the dead tasks' endpoints"
for h in h1 "$MGR"; do wait_until 30 no_stale_remotes "$h" "$WK"; done

step "timings"
sed 's/^/  /' "$E2E_TIMINGS" >&2
e2e_pass
