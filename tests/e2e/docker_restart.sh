#!/usr/bin/env bash
# weft on a real dockerd (one host): restarts of weft-plugin are hitless.
# While two containers ping each other continuously, weft is stopped cleanly
# and restarted, then killed with SIGKILL and restarted: not one packet may be
# lost. Afterwards a new container joins (and reaches the old ones), an old
# one is stopped and removed (Leave/DeleteEndpoint work: its veth goes), and
# the daemon still answers. Then start-up reconcile on the real kernel: with
# weft stopped, the VTEP is deleted from the sandbox and a stray `wx-0000ff`
# VXLAN device is made in the host namespace; on start weft puts the VTEP back
# on br0 and removes the stray, and traffic still flows. Last, one network
# that cannot be restored (issue 16): its sandbox is gone and a VXLAN device
# that is not weft's holds its VNI; weft starts anyway, serves n1, reports
# the broken network in `weftctl status`/`check` and in Docker's errors,
# and rebuilds it by itself once the device is gone. And a namespace keep
# directory on a private mount is reported by `weftctl check`.
# shellcheck disable=SC2154  # TB_h1_* come from the bed's env file
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=weft_lib.sh
source "$E2E_LIB_DIR/weft_lib.sh"

e2e_require_weft
weft_bed_up 1

PING_INTERVAL=0.02   # s
PING_COUNT=750       # ~15 s of pings, spanning both restarts

# answers_activate : weft answers Docker's handshake on its socket.
answers_activate() {
  curl -sf --max-time 2 --unix-socket "$TB_h1_WEFT_SOCK" -d '{}' http://x/Plugin.Activate | grep -q NetworkDriver
}
# docker_responsive : the daemon answers (bounded by timeouts, never hangs).
docker_responsive() {
  E2E_DOCKER_TIMEOUT=10 assert_ok dh h1 info -f '{{.ID}}'
  E2E_DOCKER_TIMEOUT=10 assert_ok dh h1 network ls
  assert_contains "$E2E_OUT" "n1" "network list"
  E2E_DOCKER_TIMEOUT=10 assert_ok dh h1 ps -q
}
# replies_so_far FILE : how many echo replies the background ping printed.
replies_so_far() { grep -c 'bytes from' "$1" || true; }
# replies_grow FILE N : more than N replies so far.
replies_grow() { (($(replies_so_far "$1") > $2)); }

step "network and two containers"
assert_ok dh h1 network create -d weft --ipam-driver weft --subnet 10.10.0.0/24 n1
run_ctr_on h1 c1 n1
run_ctr_on h1 c2 n1
ip1="$(ctr_ip_on h1 c1 n1)"
ip2="$(ctr_ip_on h1 c2 n1)"
ping_ok_on h1 c1 "$ip2" 3
nsf="$(netns_on h1 n1)"
vtep="$(in_sandbox h1 n1 ip -o link show type vxlan | awk -F': ' '{print $2}' | sed 's/@.*//')"
assert_match '^wx-[0-9a-f]{6}$' "$vtep" "n1's VTEP"
eid1="$(ep_id_on h1 c1 n1)"
eid2="$(ep_id_on h1 c2 n1)"

step "continuous ping c1 -> c2 (every ${PING_INTERVAL}s, $PING_COUNT packets) across restarts"
pingout="$E2E_BED_PARENT/ping.out"
tb_docker h1 exec c1 ping -i "$PING_INTERVAL" -c "$PING_COUNT" -W 5 "$ip2" >"$pingout" 2>&1 &
ping_pid=$!
wait_until 10 replies_grow "$pingout" 10

step "stop weft cleanly (SIGTERM); traffic flows while it is down; restart"
old_pid="$(weft_pid_on h1)"
time_it "weft-stop h1" assert_ok tb weft-stop h1
assert_ok proc_gone "$old_pid"
assert_fails answers_activate
# Everything weft made stays in the kernel without it.
assert_eq "nsfs" "$(findmnt -rn -o FSTYPE --mountpoint "$nsf")" "sandbox mount while weft is down"
assert_contains "$(in_sandbox h1 n1 ip -o link show "$vtep")" "master br0" "VTEP while weft is down"
n="$(replies_so_far "$pingout")"
wait_until 10 replies_grow "$pingout" $((n + 25))
time_it "weft-start h1 (after SIGTERM)" assert_ok tb weft-start h1
assert_ok answers_activate
assert_contains "$(cat "$TB_h1_WEFT_LOG")" "restored 1 networks, 2 endpoints" "state restored"
n="$(replies_so_far "$pingout")"
wait_until 10 replies_grow "$pingout" $((n + 25))

step "kill -9 weft; traffic flows while it is down; restart"
old_pid="$(weft_pid_on h1)"
time_it "weft-stop h1 --kill" assert_ok tb weft-stop h1 --kill
assert_ok proc_gone "$old_pid"
n="$(replies_so_far "$pingout")"
wait_until 10 replies_grow "$pingout" $((n + 25))
time_it "weft-start h1 (after SIGKILL)" assert_ok tb weft-start h1
assert_ok answers_activate
n="$(replies_so_far "$pingout")"
wait_until 10 replies_grow "$pingout" $((n + 25))

step "not one packet lost"
wait "$ping_pid" || fail "background ping failed (exit $?):"$'\n'"$(tail -n 5 "$pingout")"
summary="$(grep 'packets transmitted' "$pingout" || true)"
log "ping: $summary"
assert_eq "$PING_COUNT packets transmitted, $PING_COUNT packets received, 0% packet loss" "$summary" "ping across restarts"
assert_eq "$PING_COUNT" "$(replies_so_far "$pingout")" "echo replies"
assert_not_contains "$(cat "$pingout")" "DUP!" "duplicate replies"

step "after the restarts: the daemon answers, a new container joins and reaches the old ones"
docker_responsive
time_it "docker run after restarts" run_ctr_on h1 c3 n1
ip3="$(ctr_ip_on h1 c3 n1)"
ping_ok_on h1 c3 "$ip1" 3
ping_ok_on h1 c3 "$ip2" 3
ping_ok_on h1 c1 c3 3
assert_ne "$ip1" "$ip3" "weft IPAM after restart gave out c1's address"
assert_ne "$ip2" "$ip3" "weft IPAM after restart gave out c2's address"

step "an old container is stopped and removed (Leave, DeleteEndpoint)"
assert_ok dh h1 stop -t 1 c2
assert_fails in_sandbox h1 n1 ip link show "ws${eid2:0:11}"
assert_ok dh h1 rm c2
assert_eq "" "$(jq -r --arg e "$eid2" '.endpoints[] | select(.id == $e) | .id' "$TB_h1_WEFT_STATE/state.json")" "c2's endpoint in weft's state"
assert_fails host_ip link show "wh${eid2:0:11}"
assert_ok in_sandbox h1 n1 ip link show "ws${eid1:0:11}"
ping_fails_on h1 c1 "$ip2"
ping_ok_on h1 c1 "$ip3" 3
docker_responsive

# ---------------------------------------------------------------- reconcile
step "reconcile: VTEP deleted from the sandbox and a stray wx-0000ff in the host namespace, weft down"
assert_ok tb weft-stop h1
assert_ok nsenter --net="$nsf" ip link del "$vtep"
assert_fails in_sandbox h1 n1 ip link show "$vtep"
assert_ok host_ip link add wx-0000ff type vxlan id 255 dstport 4789 local "$TB_h1_ADDR" nolearning
assert_ok host_ip link show wx-0000ff
ping_ok_on h1 c1 "$ip3" 3 # (same host: br0 carries it, the VTEP is not needed)
time_it "weft-start h1 (reconcile)" assert_ok tb weft-start h1
assert_ok in_sandbox h1 n1 ip -d -o link show "$vtep"
vt="$E2E_OUT"
assert_contains "$vt" "master br0" "VTEP back on br0"
assert_contains "$vt" "state UNKNOWN" "VTEP up" # vxlan devices report UNKNOWN when up
assert_contains "$vt" "vxlan id $((16#${vtep#wx-})) " "VTEP's VNI"
assert_contains "$vt" "local $TB_h1_ADDR" "VTEP's local address"
assert_contains "$vt" "nolearning" "VTEP learning off"
assert_contains "$vt" "link-netns $TB_h1_NS" "VTEP's UDP socket in the host namespace"
assert_fails host_ip link show wx-0000ff
assert_empty "$(host_links | grep -E '^wx-' || true)" "VTEPs left in the host namespace"
log_text="$(cat "$TB_h1_WEFT_LOG")"
assert_contains "$log_text" "removed stray wx-0000ff" "weft's reconcile log"
ping_ok_on h1 c1 "$ip3" 3
ping_ok_on h1 c3 c1 3
run_ctr_on h1 c4 n1
ping_ok_on h1 c4 c1 3
docker_responsive

# ---------------------------------------------------------------- a network that cannot be restored
step "n2 cannot be restored: its sandbox is gone and a device that is not weft's holds its VNI"
assert_ok dh h1 network create -d weft --ipam-driver weft --subnet 10.11.0.0/24 -o vni=3333 n2
run_ctr_on h1 d1 n2
assert_ok weftctl_on h1 check
assert_ok tb weft-stop h1
assert_ok dh h1 rm -f d1
nsf2="$(netns_on h1 n2)"
# The VTEP first (synchronously): a namespace's own teardown is asynchronous.
assert_ok nsenter --net="$nsf2" ip link del wx-000d05
assert_ok umount "$nsf2"
assert_ok rm -f "$nsf2"
assert_ok host_ip link add squat0 type vxlan id 3333 dstport 4789 local "$TB_h1_ADDR" nolearning
time_it "weft-start h1 (n2 broken)" assert_ok tb weft-start h1
assert_ok answers_activate
assert_contains "$(cat "$TB_h1_WEFT_LOG")" "restoring network $(net_id_on h1 n2 | cut -c1-12)" "weft's log names n2"
# n1 is served as before.
ping_ok_on h1 c1 "$ip3" 3
run_ctr_on h1 c5 n1
ping_ok_on h1 c5 c1 3
# n2 is reported, and Docker's calls on it fail with the reason.
assert_ok weftctl_on h1 status
assert_contains "$E2E_OUT" "problems" "weftctl status"
assert_contains "$E2E_OUT" "1 (weftctl check)" "weftctl status counts the problem"
assert_fails weftctl_on h1 check
assert_contains "$E2E_OUT" "PROBLEM network $(net_id_on h1 n2 | cut -c1-12)" "weftctl check names n2"
assert_contains "$E2E_OUT" "VNI" "weftctl check says why"
assert_eq "network" "$(weftctl_on h1 --json status | jq -r '.problems[0].kind')" "weftctl --json status"
assert_fails dh h1 run -d --name d2 --network n2 busybox:local sleep 3600
assert_contains "$E2E_OUT" "cannot be used on this host" "docker run on n2"
dh h1 rm -f d2 >/dev/null 2>&1 || true
step "the device goes: weft rebuilds n2 by itself"
assert_ok host_ip link del squat0
time_it "n2 repaired" wait_until 10 weftctl_on h1 check
assert_contains "$(cat "$TB_h1_WEFT_LOG")" "is usable again" "weft's log"
run_ctr_on h1 d2 n2
run_ctr_on h1 d3 n2
ping_ok_on h1 d2 d3 3
ping_ok_on h1 c1 c5 3
docker_responsive

step "a namespace keep directory that is not on a shared mount is reported"
keep="$E2E_BED_PARENT/keep"
mkdir -p "$keep"
assert_ok mount -t tmpfs -o size=1m weft-keep "$keep"
e2e_on_exit umount -l "$keep"
assert_ok mount --make-private "$keep"
assert_ok tb weft-stop h1
assert_ok tb weft-start h1 --netns-keep-dir "$keep/netns"
assert_fails weftctl_on h1 check
assert_contains "$E2E_OUT" "NETNS_KEEP_DIR $keep/netns is not on a shared mount" "weftctl check"
assert_ok weftctl_on h1 --json status
assert_eq "host" "$(jq -r '.problems[0].kind' <<<"$E2E_OUT")" "weftctl --json status"
ping_ok_on h1 c1 c5 3
assert_ok tb weft-stop h1
assert_ok tb weft-start h1
assert_ok weftctl_on h1 check
assert_ok umount -l "$keep"
ping_ok_on h1 c1 c5 3

e2e_pass
