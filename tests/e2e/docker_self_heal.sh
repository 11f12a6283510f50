#!/usr/bin/env bash
# Run-time self-healing on two real dockerd hosts (issue 15): kernel state
# of h1's sandbox changed behind weft's back is put back, each correction
# logged and counted in the metrics.
#
# * a remote endpoint's FDB entry, its neighbour entry and the remote host's
#   flood entry deleted, one at a time, and the VTEP set down: each is back
#   within 2 s (the sandbox's netlink notifications) and traffic resumes;
# * a wrong neighbour MAC planted by hand is corrected; a flood entry and a
#   neighbour entry nobody wants, added by hand on the VTEP, are removed;
# * /metrics (METRICS_ADDR) counts each correction by table and action, and
#   the scrape passes `promtool check metrics`; the log names the network;
#   `weftctl check` passes and notes the repaired drift.
# Everything lives in the bed's namespaces: its teardown removes it.
# shellcheck disable=SC2154  # TB_* come from the bed's env file
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=weft_lib.sh
source "$E2E_LIB_DIR/weft_lib.sh"

e2e_require_multihost
e2e_require_cmd curl promtool jq
e2e_bed_up 2

HOSTS=(h1 h2)
A2="$TB_h2_ADDR"
KEY="$(new_cluster_key)"
show_peers_on_failure
METRICS=127.0.0.1:9947  # inside each host's namespace
# How long a repair may take: the issue's bound.
HEAL_MS=2000

# scrape HOST : HOST's /metrics.
scrape() { ip netns exec "$(hvar "$1" NS)" curl -sf --max-time 5 "http://$METRICS/metrics"; }
# corrections TEXT TABLE ACTION : the weft_reconcile_corrections_total sample.
corrections() {
  awk -v k="weft_reconcile_corrections_total{table=\"$2\",action=\"$3\"}" '$1 == k {print $2}' <<<"$1"
}
# healed NAME CHECK... : CHECK succeeds within HEAL_MS of the timer NAME.
healed() {
  local name="$1"
  shift
  wait_until 5 "$@"
  local ms
  ms="$(timer_ms "$name")"
  log "$name: back after $ms ms"
  assert_int_le "$ms" "$HEAL_MS" "$name took longer than ${HEAL_MS} ms to heal"
}
# The checks below run every 0.2 s against h1's sandbox, with its namespace
# file and VTEP looked up once (docker inspect would dominate the timing).
sb() { nsenter --net="$NSF" "$@"; }
neigh_now() { sb ip neigh show dev "$VX" nud permanent | awk '{print $1, $3}'; }
fdb_now() { sb bridge fdb show dev "$VX" | awk '$2 == "dst" {print $1, $3}'; }
vtep_up() { sb ip -o link show "$VX" | grep -q '[<,]UP[,>]'; }
neigh_is() { [[ $(neigh_now | awk -v ip="$1" '$1 == ip {print $2}') == "$2" ]]; }
lacks_neigh() { ! neigh_now | grep -q "^$1 "; }
has_fdb() { fdb_now | grep -qxF "$1 $2"; }
lacks_fdb() { ! fdb_now | grep -qxF "$1 $2"; }

step "weft on two hosts with metrics; n1; c1 on h1, c2 on h2"
for h in "${HOSTS[@]}"; do weft_start_on "$h" "$KEY" --metrics-addr "$METRICS"; done
for i in 1 2; do
  assert_ok dh "h$i" network create -d weft --ipam-driver weft --subnet 10.10.0.0/24 \
    --ip-range "10.10.0.$((i * 32))/27" n1
done
wait_until 20 converged h1 h2
ctr h1 c1
ctr h2 c2
wait_until 15 has_peer_entries h1 n1 "${IP[c2]}" "${MAC[c2]}" "$A2"
ping_ok_on h1 c1 "${IP[c2]}"
VX="$(vtep_on h1 n1)"
NSF="$(netns_on h1 n1)"
before="$(scrape h1)" || fail "no metrics on h1"
for t in fdb:added neigh:added flood:added link:up neigh:replaced neigh:removed flood:removed; do
  assert_eq 0 "$(corrections "$before" "${t%%:*}" "${t##*:}")" "$t before any drift"
done

step "c2's FDB entry deleted behind weft's back"
timer_start fdb
assert_ok in_sandbox h1 n1 bridge fdb del "${MAC[c2]}" dev "$VX" dst "$A2"
healed fdb has_fdb "${MAC[c2]}" "$A2"
ping_ok_on h1 c1 "${IP[c2]}"

step "c2's neighbour entry deleted"
timer_start neigh
assert_ok in_sandbox h1 n1 ip neigh del "${IP[c2]}" dev "$VX"
healed neigh neigh_is "${IP[c2]}" "${MAC[c2]}"
ping_ok_on h1 c1 "${IP[c2]}"

step "h2's flood entry deleted"
timer_start flood
assert_ok in_sandbox h1 n1 bridge fdb del 00:00:00:00:00:00 dev "$VX" dst "$A2"
healed flood has_fdb 00:00:00:00:00:00 "$A2"
ping_ok_on h1 c1 "${IP[c2]}"

step "the VTEP set down (the kernel flushes its neighbour entries with it)"
timer_start vtep
assert_ok in_sandbox h1 n1 ip link set "$VX" down
healed vtep vtep_up
healed vtep neigh_is "${IP[c2]}" "${MAC[c2]}"
ping_ok_on h1 c1 "${IP[c2]}"

step "a wrong MAC for c2 planted by hand"
timer_start wrongmac
assert_ok in_sandbox h1 n1 ip neigh replace "${IP[c2]}" lladdr 02:00:00:00:00:01 dev "$VX" nud permanent
healed wrongmac neigh_is "${IP[c2]}" "${MAC[c2]}"
ping_ok_on h1 c1 "${IP[c2]}"

step "a flood entry and a neighbour entry nobody wants, added by hand"
# Entries nobody asks for are removed only once the control plane's first
# full sync since weft started has settled which records exist (the
# supervisor's first prune, 15 s after the sidecar is ready).
strays_removed() { [[ $(weftctl_on h1 --json status | jq -r '.selfHealing.removesStrays') == true ]]; }
time_it "self-healing removes strays" wait_until 40 strays_removed
timer_start strays
assert_ok in_sandbox h1 n1 bridge fdb append 00:00:00:00:00:00 dev "$VX" dst 198.18.0.99
assert_ok in_sandbox h1 n1 ip neigh add 10.10.0.250 lladdr 02:00:00:00:00:fa dev "$VX" nud permanent
healed strays lacks_fdb 00:00:00:00:00:00 198.18.0.99
healed strays lacks_neigh 10.10.0.250
has_peer_entries h1 n1 "${IP[c2]}" "${MAC[c2]}" "$A2" || fail "the wanted entries went with the strays"

step "the metrics count each correction; the scrape is valid Prometheus text"
after="$(scrape h1)" || fail "no metrics on h1"
# Exactly one each, except neighbours: the VTEP going down flushed c2's too.
for t in fdb:added:1 flood:added:1 link:up:1 neigh:replaced:1 neigh:removed:1 flood:removed:1; do
  IFS=: read -r table action n <<<"$t"
  assert_eq "$n" "$(corrections "$after" "$table" "$action")" "corrections $table/$action"
done
assert_eq 2 "$(corrections "$after" neigh added)" "neighbours put back (deleted once, flushed once)"
assert_eq 0 "$(corrections "$(scrape h2)" fdb added)" "h2 had nothing to repair"
promtool check metrics <<<"$after" || fail "promtool check metrics refused h1's scrape"
nid="$(net_id_on h1 n1 | cut -c1-12)"
logf="$(hvar h1 WEFT_LOG)"
grep -q "reconcile: network $nid: put back fdb entry ${MAC[c2]} -> $A2" "$logf" ||
  fail "no log line for the fdb repair in $logf"
chk="$(weftctl_on h1 --json check)" || fail "weftctl check fails on h1 after the repairs: $chk"
assert_eq drift "$(jq -r '.notices[0].kind' <<<"$chk")" "weftctl check notes the repaired drift"
log "weftctl check on h1: $(weftctl_on h1 check | head -n 1)"
log "h1's corrections:"$'\n'"$(grep '^weft_reconcile_corrections_total' <<<"$after" | grep -v ' 0$')"

e2e_pass
