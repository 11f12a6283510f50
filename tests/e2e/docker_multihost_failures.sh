#!/usr/bin/env bash
# weft across three real dockerd hosts: failures of the control plane.
#
# * h2's weft-gossip runs as its own uid (65533, not nobody's 65534).
# * h2's weft-gossip is frozen (SIGSTOP) for less than SIDECAR_DEADLINE: h1
#   and h3 declare h2 dead and suspend its records -- kept programmed (h2's
#   data plane still works, as during a restart or upgrade of weft there),
#   shown with their host dead -- so h2's container stays reachable. SIGCONT:
#   h2 refutes and is alive again, the same sidecar.
# * h2's weft-gossip is frozen and left so: after SIDECAR_DEADLINE the plugin
#   kills it (SIGKILL) and starts another, which rejoins; records converge.
# * h2's weft-gossip is killed (SIGKILL) while h1's and h3's containers ping
#   h2's: the plugin restarts it (weftctl peers: restarts >= 1), h2 stays a
#   live member with its records, and not one packet is lost.
# * h2's weft-plugin is killed (kill -9) and restarted while h1's container
#   pings h2's: no packet lost; h2 re-learns the remote endpoints, and a new
#   container on h3 is reachable from h2 (and back).
# shellcheck disable=SC2154  # TB_* come from the bed's env file
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=weft_lib.sh
source "$E2E_LIB_DIR/weft_lib.sh"

e2e_require_multihost
e2e_bed_up 3

HOSTS=(h1 h2 h3)
A2="$TB_h2_ADDR" A3="$TB_h3_ADDR"
KEY="$(new_cluster_key)"
PING_INTERVAL=0.02 # s
show_peers_on_failure

# known_at HOST NAME... : HOST has the records and kernel entries of NAMEs.
known_at() {
  local h="$1" c
  shift
  for c in "$@"; do
    has_remote "$h" "${IP[$c]}" || return 1
    has_peer_entries "$h" n1 "${IP[$c]}" "${MAC[$c]}" "$(haddr "${HOST_OF[$c]}")" || return 1
  done
}
# replies FILE : echo replies a background ping printed so far.
replies() { grep -c 'bytes from' "$1" || true; }
replies_grow() { (($(replies "$1") > $2)); }
# bg_ping HOST FROM TARGET COUNT OUT : a background ping every PING_INTERVAL;
# sets BG_PID.
bg_ping() {
  dh "$1" exec "$2" ping -i "$PING_INTERVAL" -c "$4" -W 5 "$3" >"$5" 2>&1 &
  BG_PID=$!
}
# assert_no_loss PID OUT COUNT WHAT : waits for the background ping, logs
# what it says about loss and fails the test on anything but COUNT of COUNT.
assert_no_loss() {
  local pid="$1" out="$2" n="$3" what="$4" s
  wait "$pid" 2>/dev/null || true
  s="$(grep 'packets transmitted' "$out" || true)"
  log "$what: $s"
  assert_eq "$n packets transmitted, $n packets received, 0% packet loss" "$s" "$what"
  assert_not_contains "$(cat "$out")" "DUP!" "duplicate replies ($what)"
}

step "weft on three hosts, network n1 on each, c1/c2/c3 on h1/h2/h3"
# Long enough for the checks made while h2 is frozen, short enough to wait out.
FREEZE_DEADLINE=15 # s (the checks while frozen take ~4 s)
for h in "${HOSTS[@]}"; do weft_start_on "$h" "$KEY" --sidecar-deadline "$FREEZE_DEADLINE"; done
for i in 1 2 3; do
  assert_ok dh "h$i" network create -d weft --ipam-driver weft --subnet 10.10.0.0/24 \
    --ip-range "10.10.0.$((i * 32))/27" n1
done
ctr h1 c1
ctr h2 c2
ctr h3 c3
wait_until 20 converged h1 h2 h3
wait_until 10 known_at h1 c2 c3
wait_until 10 known_at h2 c1 c3
wait_until 10 known_at h3 c1 c2
ping_ok_on h1 c1 "${IP[c2]}"
ping_ok_on h3 c3 "${IP[c2]}"
ping_ok_on h2 c2 "${IP[c1]}"
assert_eq 0 "$(gossip_restarts h2)" "sidecar restarts on h2 before anything happened"

# ---------------------------------------------------------------- SIGSTOP
step "h2's weft-gossip frozen (SIGSTOP): h1 and h3 declare h2 dead and suspend its records"
gpid="$(gossip_pid_on h2)"
assert_eq "65533:65533" "$(stat -c %u:%g "/proc/$gpid")" "weft-gossip runs as its own uid/gid, not nobody"
kill -STOP "$gpid" # (if the test fails now, the bed's teardown kills it anyway)
timer_start stop
timer_start frozen
wait_until 20 member_state_is h1 "$A2" dead
wait_until 20 member_state_is h3 "$A2" dead
log "h1 and h3 declared h2 dead $(timer_ms stop) ms after SIGSTOP"
for h in h1 h3; do
  assert_ok has_remote "$h" "${IP[c2]}"
  assert_ok has_peer_entries "$h" n1 "${IP[c2]}" "${MAC[c2]}" "$A2"
  assert_ok has_flood "$h" n1 "$A2"
  assert_ok weftctl_on "$h" peers
  assert_match "${IP[c2]}/24 +[0-9a-f:]+ +$A2 +dead" "$E2E_OUT" "$h: h2's endpoint held with its host dead"
done
ping_ok_on h1 c1 "${IP[c2]}"   # h2's data plane still works
ping_ok_on h3 c3 "${IP[c2]}"
ping_ok_on h1 c1 "${IP[c3]}"   # h1 <-> h3 unaffected
assert_ok member_state_is h1 "$A3" alive

step "SIGCONT: h2 is alive again and its records return"
frozen_ms="$(timer_ms frozen)"
((frozen_ms < FREEZE_DEADLINE * 1000)) || fail "the checks above took ${frozen_ms} ms, past SIDECAR_DEADLINE"
kill -CONT "$gpid"
timer_start cont
wait_until 20 member_state_is h1 "$A2" alive
wait_until 20 member_state_is h3 "$A2" alive
log "h2 alive again at h1 and h3 $(timer_ms cont) ms after SIGCONT"
wait_until 10 known_at h1 c2
wait_until 10 known_at h3 c2
log "h2's endpoint back on h1 and h3 $(timer_ms cont) ms after SIGCONT"
assert_eq "$gpid" "$(gossip_pid_on h2)" "the frozen sidecar was not replaced"
assert_eq 0 "$(gossip_restarts h2)" "sidecar restarts on h2 after SIGSTOP/SIGCONT"
ping_ok_on h1 c1 "${IP[c2]}"
ping_ok_on h3 c3 "${IP[c2]}"
ping_ok_on h2 c2 "${IP[c3]}"

# ---------------------------------------------------------------- left frozen
step "h2's weft-gossip frozen and left so: killed and replaced after SIDECAR_DEADLINE"
gpid="$(gossip_pid_on h2)"
kill -STOP "$gpid"
timer_start frozen
wait_until $((FREEZE_DEADLINE + 15)) grep -q "weft-gossip (pid $gpid) has shown no sign of life" "$TB_h2_WEFT_LOG"
frozen_ms="$(timer_ms frozen)"
log "h2's plugin gave up on its frozen weft-gossip after $frozen_ms ms (deadline ${FREEZE_DEADLINE} s)"
((frozen_ms >= FREEZE_DEADLINE * 1000 - 1500)) || fail "killed after $frozen_ms ms, before the deadline"
wait_until 10 gossip_running_on h2
newpid="$(gossip_pid_on h2)"
assert_ne "$gpid" "$newpid" "a new weft-gossip"
assert_fails kill -0 "$gpid"
assert_eq 1 "$(gossip_restarts h2)" "sidecar restarts on h2 after it was left frozen"
wait_until 20 converged h1 h2 h3
wait_until 10 known_at h1 c2
wait_until 10 known_at h3 c2
assert_ok known_at h2 c1 c3
log "h2 converged again $(timer_ms frozen) ms after it was frozen"
ping_ok_on h1 c1 "${IP[c2]}"
ping_ok_on h2 c2 "${IP[c3]}"

# ---------------------------------------------------------------- SIGKILL
step "h2's weft-gossip killed (SIGKILL) while c1 and c3 ping c2: restarted, no loss"
n=200 # 4 s at 20 ms
out1="$E2E_BED_PARENT/ping-c1-c2.out"
out3="$E2E_BED_PARENT/ping-c3-c2.out"
bg_ping h1 c1 "${IP[c2]}" "$n" "$out1"
p1=$BG_PID
bg_ping h3 c3 "${IP[c2]}" "$n" "$out3"
p3=$BG_PID
wait_until 10 replies_grow "$out1" 10
wait_until 10 replies_grow "$out3" 10
gpid="$(gossip_pid_on h2)"
kill -KILL "$gpid"
timer_start kill
wait_until 10 eval '(($(gossip_restarts h2) >= 2))'
wait_until 10 gossip_running_on h2
newpid="$(gossip_pid_on h2)"
assert_ne "$gpid" "$newpid" "a new weft-gossip"
log "weft-gossip restarted on h2 (pid $gpid -> $newpid) in $(timer_ms kill) ms"
assert_contains "$(cat "$TB_h2_WEFT_LOG")" "weft-gossip stopped (signal 9); restarting in" "h2's log"
wait_until 20 converged h1 h2 h3
assert_ok known_at h1 c2
assert_ok known_at h3 c2
assert_ok known_at h2 c1 c3
assert_no_loss "$p1" "$out1" "$n" "ping c1 -> c2 across the sidecar kill"
assert_no_loss "$p3" "$out3" "$n" "ping c3 -> c2 across the sidecar kill"
assert_eq 2 "$(gossip_restarts h2)" "sidecar restarts on h2 (the frozen one, the killed one)"

# ---------------------------------------------------------------- plugin kill -9
step "h2's weft-plugin killed (kill -9) and restarted while c1 pings c2"
n=250 # 5 s at 20 ms
out1="$E2E_BED_PARENT/ping-plugin-kill.out"
bg_ping h1 c1 "${IP[c2]}" "$n" "$out1"
p1=$BG_PID
# What h1 thinks of h2 while this happens (every ~40 ms), for the diagnosis.
views="$E2E_BED_PARENT/h1-view-of-h2.txt"
(while kill -0 "$p1" 2>/dev/null; do
  echo "$(now_ms) $(peers_json h1 2>/dev/null | jq -j --arg a "$A2" '([.gossip.members[] | select(.id == $a) | .state][0] // "none"),
    " ", ([.remoteEndpoints[].ipv4] | join(" "))')"
  sleep 0.02
done) >"$views" &
sampler=$!
wait_until 10 replies_grow "$out1" 10
old="$(weft_pid_on h2)"
timer_start pkill
time_it "weft-stop h2 --kill" assert_ok tb weft-stop h2 --kill
weft_start_on h2 "$KEY"
log "weft-plugin on h2 back $(timer_ms pkill) ms after the kill (pid $old -> $(weft_pid_on h2))"
wait_until 20 known_at h2 c1 c3
log "h2 re-learned the remote endpoints $(timer_ms pkill) ms after the kill"
wait_until 20 converged h1 h2 h3
assert_eq "$(printf '%s\n' "${IP[c1]}" "${IP[c3]}" | sort)" "$(remote_ips h2)" "h2's remote endpoints after the restart"
wait "$sampler" || true
wait "$p1" || true
not_alive="$(awk '$2 != "alive"' "$views")"
[[ -z $not_alive ]] || log "h1's view of h2 during the restart was not always alive (ms, state, h1's remote endpoints):"$'\n'"$(head -n 5 <<<"$not_alive")"
# The restarting plugin's sidecar does not leave the cluster, and the other
# hosts keep h2's endpoints programmed: no packet is lost.
assert_no_loss "$p1" "$out1" "$n" "ping c1 -> c2 across kill -9 of h2's weft-plugin"

step "a new container on h3 is reachable from h2 (and back)"
ctr h3 c3b
wait_until 10 known_at h2 c3b
ping_ok_on h2 c2 "${IP[c3b]}"
ping_ok_on h3 c3b "${IP[c2]}"
ping_ok_on h1 c1 "${IP[c3b]}"

e2e_pass
