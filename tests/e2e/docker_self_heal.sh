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
#   `weftctl check` passes and notes the repaired drift;
# * every metric family issue 15 lists is in the scrape, and the counters
#   move with what the test did between two scrapes: Join calls, gossip
#   messages, records applied and their convergence lag, data-plane probes,
#   kernel peer operations, reconcile corrections, and the packets of an
#   encrypted network e1 the test pings across.
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

step "an encrypted network e1 on both hosts; e1a on h1 pings e1b on h2 (Join calls, records, sealed packets)"
for i in 1 2; do
  assert_ok dh "h$i" network create -d weft --ipam-driver weft --subnet 10.42.0.0/24 \
    --ip-range "10.42.0.$((i * 64))/26" -o encrypted e1
done
run_ctr_on h1 e1a e1
run_ctr_on h2 e1b e1
wait_until 15 ping_ok_on h1 e1a "$(ctr_ip_on h2 e1b e1)" 1

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

step "every family issue 15 lists is in h1's scrape, and the counters moved with what the test did"
# total TEXT SELECTOR : the sum of the samples whose series starts with
# SELECTOR (a family name, or a name with some of its labels, up to a comma).
total() { awk -v k="$2" 'index($1, k) == 1 {s += $2} END {printf "%d\n", s}' <<<"$1"; }
# moved NAME SELECTOR : the sum rose from `before` to `after`.
moved() {
  local b a
  b="$(total "$before" "$2")"
  a="$(total "$after" "$2")"
  ((a > b)) || fail "$1 did not move: $b before, $a after ($2)"
  log "moved: $1: $b -> $a"
}
for f in weft_build_info weft_requests_total weft_request_duration_seconds weft_networks weft_networks_faulted \
  weft_endpoints weft_ipam_conflicts weft_ipam_conflicts_detected_total weft_ipam_pool_capacity_addresses weft_ipam_pool_allocated_addresses \
  weft_kernel_peer_operations_total weft_kernel_peer_retries_total weft_reconcile_corrections_total \
  weft_sidecar_up weft_sidecar_restarts_total weft_sidecar_messages_refused_total weft_gossip_members \
  weft_gossip_packets_total weft_gossip_bytes_total weft_gossip_messages_total weft_gossip_packets_refused_total \
  weft_gossip_records_applied_total weft_gossip_suspicions_total weft_gossip_refutations_total \
  weft_gossip_auth_failures_total weft_convergence_lag_seconds weft_dataplane_probes_total \
  weft_dataplane_probe_rtt_seconds weft_dataplane_peers weft_dataplane_probe_stalest_success_timestamp_seconds \
  weft_encrypted_packets_total weft_encrypted_bytes_total weft_encrypted_packets_dropped_total; do
  nfam=$((${nfam:-0} + 1))
  grep -q "^# TYPE $f " <<<"$after" || fail "family $f is not in h1's scrape"
done
log "present: all $nfam families checked"
moved "Join calls answered" 'weft_requests_total{call="NetworkDriver.Join",result="ok"}'
moved "gossip messages" weft_gossip_messages_total
moved "records from h2 applied" weft_gossip_records_applied_total
moved "records programmed (convergence lag observations)" weft_convergence_lag_seconds_count
# (c2's entries were programmed before the first scrape; repairs are
# counted as corrections, not as peer operations.)
(($(total "$after" 'weft_kernel_peer_operations_total{result="ok"}') > 0)) || fail "no kernel peer operation counted"
assert_eq 0 "$(total "$after" 'weft_kernel_peer_operations_total{result="error"}')" "failed kernel peer operations"
moved "small data-plane probes answered" 'weft_dataplane_probes_total{size="small",result="answered"}'
moved "probe round trips" weft_dataplane_probe_rtt_seconds_count
moved "reconcile corrections" weft_reconcile_corrections_total
moved "encrypted packets sent" 'weft_encrypted_packets_total{network="'
assert_eq 0 "$(total "$after" 'weft_encrypted_packets_dropped_total{')" "encrypted packets dropped on h1"
n1id="$(weftctl_on h1 --json networks | jq -r '.networks[] | select(.encrypted | not) | .identity')"
assert_eq 1 "$(total "$after" "weft_dataplane_peers{network=\"$n1id\",state=\"ok\"}")" \
  "h2 is n1's one peer host ($n1id), its data path ok"
assert_eq "$(peers_json h1 | jq '.remoteEndpoints | length')" "$(total "$after" 'weft_endpoints{location="remote"}')" \
  "remote endpoints: weftctl peers and the metric agree"
log "h1's corrections:"$'\n'"$(grep '^weft_reconcile_corrections_total' <<<"$after" | grep -v ' 0$')"

e2e_pass
