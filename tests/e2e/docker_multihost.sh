#!/usr/bin/env bash
# weft across three real dockerd hosts (one bed, h1..h3), joined by gossip.
#
# * weft on every host with --peers (seed h1) and one cluster key; the same
#   network (same subnet, disjoint --ip-range) on each; containers on
#   different hosts ping each other by IP, every pair, both directions, and
#   every host's sandbox holds the neighbour, FDB and flood entries of every
#   remote endpoint.
# * A removed container becomes unreachable from the other hosts and its
#   neighbour/FDB entries vanish there; the flood entry for its host's VTEP
#   stays while that host has another endpoint and goes with the last one; a
#   new container on that host is reachable again.
# * Partition: h3's cable is pulled; h1/h2 declare it dead and drop its
#   endpoints (and h3 theirs); meanwhile a container starts on h1 and one is
#   removed on h2; after the cable is back the records converge: h3 reaches
#   the new container, has no entries for the removed one, h1/h2 reach h3.
# * Wrong key: h3's weft restarts with another cluster key; it is refused:
#   never a live member at h1/h2, its endpoints never programmed there, h1/h2
#   count authentication failures from 198.18.0.3 and log why, h3 sees no live
#   member and learns no endpoint, containers do not reach each other either
#   way. With the right key again, h3 rejoins and its container is reachable.
# shellcheck disable=SC2154  # TB_* come from the bed's env file
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=weft_lib.sh
source "$E2E_LIB_DIR/weft_lib.sh"

e2e_require_multihost
e2e_bed_up 3

HOSTS=(h1 h2 h3)
A1="$TB_h1_ADDR" A2="$TB_h2_ADDR" A3="$TB_h3_ADDR"
KEY="$(new_cluster_key)"
show_peers_on_failure

# known_everywhere NAME : every other host has NAME's record and kernel entries.
known_everywhere() {
  local c="$1" h
  for h in "${HOSTS[@]}"; do
    [[ $h == "${HOST_OF[$c]}" ]] && continue
    has_remote "$h" "${IP[$c]}" || return 1
    has_peer_entries "$h" n1 "${IP[$c]}" "${MAC[$c]}" "$(haddr "${HOST_OF[$c]}")" || return 1
  done
}
# gone_everywhere NAME : no other host has NAME's record or kernel entries.
gone_everywhere() {
  local c="$1" h
  for h in "${HOSTS[@]}"; do
    [[ $h == "${HOST_OF[$c]}" ]] && continue
    lacks_remote "$h" "${IP[$c]}" || return 1
    lacks_peer_entries "$h" n1 "${IP[$c]}" "${MAC[$c]}" || return 1
  done
}

step "weft on three hosts (--peers $A1, one cluster key); the same network on each"
for h in "${HOSTS[@]}"; do weft_start_on "$h" "$KEY"; done
for i in 1 2 3; do
  assert_ok dh "h$i" network create -d weft --ipam-driver weft --subnet 10.10.0.0/24 \
    --ip-range "10.10.0.$((i * 32))/27" n1
done
timer_start members
wait_until 20 converged h1 h2 h3
log "all three hosts see each other alive after $(timer_ms members) ms"
fp1="$(peers_json h1 | jq -r .gossip.keyFingerprint)"
for h in h2 h3; do assert_eq "$fp1" "$(peers_json "$h" | jq -r .gossip.keyFingerprint)" "$h's key fingerprint"; done

step "containers: c1 on h1, c2 and c2b on h2, c3 and c3b on h3"
ctr h1 c1
ctr h2 c2
ctr h2 c2b
ctr h3 c3
ctr h3 c3b
timer_start spread
for c in c1 c2 c2b c3 c3b; do wait_until 10 known_everywhere "$c"; done
log "every record programmed on every other host $(timer_ms spread) ms after the last docker run"
assert_match '^10\.10\.0\.(3[2-9]|[45][0-9]|6[0-3])$' "${IP[c1]}" "h1's --ip-range"
assert_match '^10\.10\.0\.(6[4-9]|[7-9][0-9])$' "${IP[c2]}" "h2's --ip-range"
assert_match '^10\.10\.0\.(9[6-9]|1[01][0-9]|12[0-7])$' "${IP[c3]}" "h3's --ip-range"
for h in "${HOSTS[@]}"; do
  # nothing else: exactly the remote endpoints, no stray entries
  mine=()
  for c in c1 c2 c2b c3 c3b; do [[ ${HOST_OF[$c]} == "$h" ]] || mine+=("${IP[$c]}"); done
  assert_eq "$(printf '%s\n' "${mine[@]}" | sort)" "$(remote_ips "$h")" "remote endpoints on $h"
done

step "every pair of hosts, both directions"
for a in c1 c2 c3; do
  for b in c1 c2 c3; do
    [[ $a == "$b" ]] && continue
    ping_ok_on "${HOST_OF[$a]}" "$a" "${IP[$b]}"
  done
done
ping_ok_on h1 c1 "${IP[c3b]}"
ping_ok_on h3 c3b "${IP[c2b]}"

# ---------------------------------------------------------------- removal
step "c3b removed on h3: unreachable, its entries vanish on h1/h2; h3's flood entry stays (c3 is left)"
assert_ok dh h3 rm -f c3b
timer_start rm
wait_until 10 gone_everywhere c3b
log "c3b's entries gone on h1 and h2 $(timer_ms rm) ms after docker rm returned"
for h in h1 h2; do assert_ok has_flood "$h" n1 "$A3"; done
ping_fails_on h1 c1 "${IP[c3b]}"
ping_fails_on h2 c2 "${IP[c3b]}"
ping_ok_on h1 c1 "${IP[c3]}"

step "c3 (h3's last endpoint) removed: the flood entries for h3's VTEP go too"
assert_ok dh h3 rm -f c3
wait_until 10 gone_everywhere c3
for h in h1 h2; do
  wait_until 10 lacks_flood "$h" n1 "$A3"
  assert_ok no_entries_for_vtep "$h" n1 "$A3"
  assert_not_contains "$(remote_vteps "$h")" "$A3" "endpoints at h3 on $h"
done
ping_fails_on h1 c1 "${IP[c3]}"
# h3 still knows the others (it keeps the network); h1 <-> h2 unaffected.
ping_ok_on h1 c1 "${IP[c2]}"

step "a new container on h3 is reachable again"
ctr h3 c3n
wait_until 10 known_everywhere c3n
ping_ok_on h1 c1 "${IP[c3n]}"
ping_ok_on h2 c2 "${IP[c3n]}"
ping_ok_on h3 c3n "${IP[c1]}"
ping_ok_on h3 c3n "${IP[c2b]}"

# ---------------------------------------------------------------- partition
step "partition: h3's cable pulled"
assert_ok tb link-down h3
timer_start part
wait_until 20 member_state_is h1 "$A3" dead
wait_until 20 member_state_is h2 "$A3" dead
log "h1 and h2 declared h3 dead after $(timer_ms part) ms"
# A dead member's records are suspended, not dropped: a dead control plane
# may have a live data plane, so its endpoints stay programmed (until it is
# reaped, an hour later) and weftctl shows their host dead.
wait_until 20 member_state_is h3 "$A1" dead
wait_until 20 member_state_is h3 "$A2" dead
for h in h1 h2; do
  assert_ok has_remote "$h" "${IP[c3n]}"
  assert_ok has_peer_entries "$h" n1 "${IP[c3n]}" "${MAC[c3n]}" "$A3"
  assert_ok has_flood "$h" n1 "$A3"
done
assert_ok has_remote h3 "${IP[c1]}"
ping_ok_on h1 c1 "${IP[c2]}"   # h1 <-> h2 unaffected

step "while h3 is cut off: c1b starts on h1, c2b is removed on h2"
ctr h1 c1b
assert_ok dh h2 rm -f c2b
wait_until 10 has_remote h2 "${IP[c1b]}"
wait_until 10 lacks_remote h1 "${IP[c2b]}"
assert_ok lacks_remote h3 "${IP[c1b]}"

step "cable back: h3 rejoins and the records converge"
assert_ok tb link-up h3
timer_start heal
wait_until 30 converged h1 h2 h3
log "members converged $(timer_ms heal) ms after link-up"
wait_until 20 has_remote h3 "${IP[c1b]}"
wait_until 20 has_peer_entries h3 n1 "${IP[c1b]}" "${MAC[c1b]}" "$A1"
wait_until 20 lacks_peer_entries h3 n1 "${IP[c2b]}" "${MAC[c2b]}"
wait_until 20 known_everywhere c3n
log "records converged $(timer_ms heal) ms after link-up"
assert_ok lacks_remote h3 "${IP[c2b]}"
assert_eq "$(printf '%s\n' "${IP[c1]}" "${IP[c1b]}" "${IP[c2]}" | sort)" "$(remote_ips h3)" "h3's remote endpoints after the partition"
ping_ok_on h3 c3n "${IP[c1b]}"
ping_ok_on h1 c1b "${IP[c3n]}"
ping_ok_on h2 c2 "${IP[c3n]}"
ping_fails_on h3 c3n "${IP[c2b]}"

# ---------------------------------------------------------------- wrong key
step "h3's weft restarted with another cluster key (seeds h1 and h2)"
KEY2="$(new_cluster_key)"
log_off1=$(stat -c %s "$TB_h1_WEFT_LOG")
log_off2=$(stat -c %s "$TB_h2_WEFT_LOG")
assert_ok tb weft-stop h3
weft_start_on h3 "$KEY2" --peers "$A1,$A2"
ctr h3 c3w
fp3="$(peers_json h3 | jq -r .gossip.keyFingerprint)"
assert_ne "$fp1" "$fp3" "h3's key fingerprint with the other key"
# auth_failures_from HOST : HOST counted failed packets from h3.
auth_failures_from_h3() { (($(auth_failures "$1" "$A3") > 0)) || { echo "no auth failures from $A3 at $1"; return 1; }; }
# logged_auth_failure HOST OFFSET : HOST's log says why h3 is refused.
logged_auth_failure() {
  tail -c +"$(($2 + 1))" "$(hvar "$1" WEFT_LOG)" | grep -F "packet(s) failed authentication" |
    grep -F "$A3 (" | grep -F "they use a different cluster key or label"
}
# h3_says_why : h3's status names the hosts that refuse it.
h3_says_why() {
  local p
  p=$(peers_json h3 | jq -r '.gossip.authProblem // ""')
  [[ $p == *"refused by $A1:"* && $p == *"cluster key"* ]] || { echo "h3 authProblem: '$p'"; return 1; }
}
# refused : h3 is not in the cluster, as seen from all three hosts.
refused() {
  local h
  for h in h1 h2; do
    member_state_is "$h" "$A3" none left dead || return 1
    # What h3 publishes now never arrives (endpoints of its earlier life stay
    # held, with their host dead, until it is reaped).
    [[ $(remote_ips "$h") != *"${IP[c3w]}"* ]] || { echo "$h learned h3's new endpoint ${IP[c3w]}"; return 1; }
  done
  [[ -z $(alive_members h3) ]] || { echo "h3 sees live members: $(alive_members h3)"; return 1; }
  [[ -z $(remote_ips h3) ]] || { echo "h3 learned endpoints: $(remote_ips h3)"; return 1; }
}
timer_start wrongkey
wait_until 20 auth_failures_from_h3 h1
wait_until 20 auth_failures_from_h3 h2
wait_until 10 logged_auth_failure h1 "$log_off1"
wait_until 10 logged_auth_failure h2 "$log_off2"
log "h1: $(logged_auth_failure h1 "$log_off1" | tail -n 1)"
wait_until 10 h3_says_why
log "h3: $(peers_json h3 | jq -r '.gossip.authProblem')"
# The old h3 did not leave (a restarting plugin never does), so h1 and h2
# first see it suspect, then dead: its new self cannot authenticate to refute.
wait_until 15 refused
log "h3 refused (dead, no endpoints) $(timer_ms wrongkey) ms after its restart with another key"
# weftctl check explains it on both sides: h1 names h3 as sending gossip it
# cannot authenticate, h3 names the hosts that refuse it.
check_fails_with() {
  local h="$1" out rc=0 t
  shift
  out="$(weftctl_on "$h" check)" || rc=$?
  ((rc == 1)) || { echo "$h: weftctl check exited $rc: $out"; return 1; }
  for t in "$@"; do [[ $out == *"$t"* ]] || { echo "$h: weftctl check lacks '$t':"$'\n'"$out"; return 1; }; done
}
wait_until 10 check_fails_with h1 "PROBLEM cluster key: host $A3 sends gossip this host cannot authenticate" \
  "it has a different cluster KEY" "every host of a cluster needs the same key"
log "h1: $(weftctl_on h1 check | grep -F "cluster key: host $A3")"
wait_until 10 check_fails_with h3 "PROBLEM cluster key:" "refused by $A1:"
log "h3: $(weftctl_on h3 check | grep -F 'PROBLEM cluster key:' | head -n 1)"
# Refused from then on: checked again and again for a few seconds (several
# probe periods and two of the sidecar's re-join rounds).
timer_start refusedcheck
while (($(timer_ms refusedcheck) < 6000)); do
  assert_ok refused
  sleep 0.3
done
ping_fails_on h1 c1 "${IP[c3w]}"
ping_fails_on h2 c2 "${IP[c3w]}"
ping_fails_on h3 c3w "${IP[c1]}"
ping_fails_on h3 c3w "${IP[c2]}"
assert_ok refused
log "h1 counted $(auth_failures h1 "$A3"), h2 $(auth_failures h2 "$A3") packets from h3 that failed authentication"
ping_ok_on h1 c1 "${IP[c2]}"   # h1 <-> h2 unaffected

step "h3 with the right key again: it rejoins and its containers are reachable"
assert_ok tb weft-stop h3
weft_start_on h3 "$KEY"
wait_until 20 converged h1 h2 h3
wait_until 20 known_everywhere c3w
wait_until 20 has_remote h3 "${IP[c1]}"
ping_ok_on h1 c1 "${IP[c3w]}"
ping_ok_on h3 c3w "${IP[c2]}"
# The right key again: h3 is alive, its earlier failures no longer count.
check_passes() { weftctl_on "$1" check >/dev/null || { weftctl_on "$1" check; return 1; }; }
wait_until 20 check_passes h1

e2e_pass
