#!/usr/bin/env bash
# Cluster-wide IPAM when things go wrong (issue 12), three standalone hosts,
# IPAM_RECLAIM_GRACE=10 s:
#
# * Partition and heal: h3 is cut off from h1 and h2 (nftables in h3's
#   namespace drops everything to and from them). A one-block pool
#   (--subnet .../28) that nobody held: h1 and h3 each start a container in
#   it, both claim the block and, unable to see each other, both use it --
#   the duplicate the design allows (README: only a block claimed on both
#   sides of a partition). After the heal both hosts log the conflict, show
#   it in `weftctl ipam` and count it (weft_ipam_conflicts,
#   weft_ipam_conflicts_detected_total); the losing host hands out no more
#   from the block.
# * A pool of two blocks held by h1 and h2 is exhausted cluster-wide: h3's
#   docker run fails naming both holders. h2 stops for good: once it is gone
#   for the grace period, h3 reclaims its block (weftctl ipam shows the
#   takeover) and its container runs and reaches h1's (h2's stale endpoint
#   in the block is forgotten everywhere).
# * The same weft.name with different subnets on h1 and h3: both log it,
#   weftctl ipam and weft_ipam_pool_name_mismatches show it, and a new
#   container on h3 is refused naming h1.
# * A member that has the cluster key forges a lease record (a real
#   weft-gossip sidecar driven by tests/tools/weft_forge_lease.cc, joined as
#   a new member from h2's namespace): it takes over h1's block of the
#   two-block pool, claimed earliest and used. h1 and h3 refuse it, log it
#   and count it (weft_ipam_refused_records_total); h1 keeps its block (no
#   conflict, still hands out from it) and its container.
# Takes ~57 s.
# shellcheck disable=SC2154  # TB_* come from the bed's env file
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=weft_lib.sh
source "$E2E_LIB_DIR/weft_lib.sh"

e2e_require_multihost
e2e_require_cmd nft
FORGE_BIN="${WEFT_BIN:-$E2E_REPO/build/bin}/weft-forge-lease"
[[ -x $FORGE_BIN ]] || e2e_skip "no $FORGE_BIN (build it: ninja -C build weft-forge-lease)"
e2e_bed_up 3

HOSTS=(h1 h2 h3)
A1="$TB_h1_ADDR" A2="$TB_h2_ADDR" A3="$TB_h3_ADDR"
KEY="$(new_cluster_key)"
GRACE=10
METRICS=127.0.0.1:9947  # inside each host's namespace
show_peers_on_failure
# shellcheck disable=SC2016  # expanded when the hook runs
e2e_on_exit eval '((E2E_RC == 0)) || for h in "${HOSTS[@]}"; do echo "---- weftctl ipam on $h" >&2; weftctl_on $h ipam >&2 || true; done'

nft_on() {
  local ns
  ns="$(hvar "$1" NS)"
  shift
  ip netns exec "$ns" nft "$@"
}
scrape() { ip netns exec "$(hvar "$1" NS)" curl -sf --max-time 5 "http://$METRICS/metrics"; }
metric() { scrape "$1" | awk -v m="$2" '$1 == m {print $2}'; }
ipam_json() { weftctl_on "$1" --json ipam; }
# conflicts_on HOST POOL : HOST's conflicts in POOL, as "block other weWin".
conflicts_on() {
  ipam_json "$1" | jq -r --arg p "$2" '.pools[] | select(.pool == $p) | .conflicts[] | "\(.block) \(.other) \(.weWin)"'
}
has_conflict() { [[ -n $(conflicts_on "$1" "$2") ]]; }
not_alive() { ! member_state_is "$1" "$(haddr "$2")" alive; }
logged() { grep -q -- "$2" "$(hvar "$1" WEFT_LOG)"; }

step "weft on three hosts (IPAM_RECLAIM_GRACE=$GRACE, metrics on)"
for h in "${HOSTS[@]}"; do weft_start_on "$h" "$KEY" --ipam-reclaim-grace "$GRACE" --metrics-addr "$METRICS"; done
wait_until 20 converged h1 h2 h3
for h in "${HOSTS[@]}"; do
  assert_ok dh "$h" network create -d weft --ipam-driver weft --subnet 10.62.1.0/28 one
  assert_ok dh "$h" network create -d weft --ipam-driver weft --subnet 10.62.0.0/27 two
done
assert_eq "$(ipam_json h1 | jq -r .graceSeconds)" "$GRACE" "the grace period weftctl ipam shows"

# ---------------------------------------------------------------- partition
step "h3 cut off from h1 and h2; h1 and h3 each start a container in the one-block pool"
nft_on h3 -f - <<EOF2 || fail "nft on h3"
table inet weft_partition {
  chain input { type filter hook input priority 0; policy accept; ip saddr { $A1, $A2 } drop; }
  chain output { type filter hook output priority 0; policy accept; ip daddr { $A1, $A2 } drop; }
}
EOF2
timer_start part
wait_until 20 not_alive h1 h3
wait_until 20 not_alive h3 h1
log "h1 and h3 see each other gone $(timer_ms part) ms after the cut"
assert_ok dh h1 run -d --name p1 --network one busybox:local sleep 3600
assert_ok dh h3 run -d --name p3 --network one busybox:local sleep 3600
ip1="$(ctr_ip_on h1 p1 one)" ip3="$(ctr_ip_on h3 p3 one)"
log "p1 on h1: $ip1, p3 on h3: $ip3 (both from the pool's only block)"
assert_eq "$ip3" "$ip1" "the duplicate a partition allows"

step "heal: both hosts find the conflict, log it, show it and count it"
nft_on h3 delete table inet weft_partition || fail "nft delete on h3"
timer_start heal
wait_until 30 converged h1 h2 h3
wait_until 20 has_conflict h1 10.62.1.0/28
wait_until 20 has_conflict h3 10.62.1.0/28
log "conflict shown on both $(timer_ms heal) ms after the heal"
c1="$(conflicts_on h1 10.62.1.0/28)" c3="$(conflicts_on h3 10.62.1.0/28)"
log "h1: $c1; h3: $c3"
assert_eq "$(awk '{print $2}' <<<"$c1")" "$A3" "h1's conflict names h3"
assert_eq "$(awk '{print $2}' <<<"$c3")" "$A1" "h3's conflict names h1"
[[ $(awk '{print $3}' <<<"$c1") != $(awk '{print $3}' <<<"$c3") ]] || fail "both hosts think they win: $c1 / $c3"
for h in h1 h3; do
  assert_eq "$(metric "$h" weft_ipam_conflicts)" 1 "weft_ipam_conflicts on $h"
  assert_eq "$(metric "$h" weft_ipam_conflicts_detected_total)" 1 "weft_ipam_conflicts_detected_total on $h"
  logged "$h" "address conflict: block 10.62.1.0/28 of pool 10.62.1.0/28" || fail "no conflict in $h's log"
  weftctl_on "$h" ipam | grep -q "CONFLICT: block 10.62.1.0/28" || fail "weftctl ipam on $h shows no conflict"
done
assert_eq "$(metric h2 weft_ipam_conflicts)" 0 "weft_ipam_conflicts on h2 (no part in it)"
loser=h1
[[ $(awk '{print $3}' <<<"$c1") == true ]] && loser=h3
assert_fails dh "$loser" run -d --name more --network one busybox:local sleep 3600
assert_contains "$E2E_OUT" "this host hands out no more from 10.62.1.0/28: another host won it" "the loser's docker run"
log "the loser ($loser) hands out no more: $(tail -n 1 <<<"$E2E_OUT")"
dh "$loser" rm -f more >/dev/null 2>&1 || true

# ---------------------------------------------------------------- exhausted, reclaim
step "two blocks held by h1 and h2: exhausted cluster-wide for h3"
assert_ok dh h1 run -d --name r1 --network two busybox:local sleep 3600
assert_ok dh h2 run -d --name r2 --network two busybox:local sleep 3600
ip2="$(ctr_ip_on h2 r2 two)"
assert_fails dh h3 run -d --name r3 --network two busybox:local sleep 3600
assert_contains "$E2E_OUT" "exhausted cluster-wide" "h3's docker run"
assert_contains "$E2E_OUT" "$A2 (1)" "h3's docker run names h2's block"
dh h3 rm -f r3 >/dev/null 2>&1 || true

step "h2 stops for good: after the grace period h3 reclaims its block"
assert_ok tb weft-stop h2
timer_start gone
wait_until 20 not_alive h3 h2
# r3 : h3's docker run succeeds (for wait_until; a failure leaves nothing).
r3() { dh h3 rm -f r3 >/dev/null 2>&1; dh h3 run -d --name r3 --network two busybox:local sleep 3600 >/dev/null 2>&1; }
wait_until $((GRACE + 20)) r3
log "h3's container ran $(timer_ms gone) ms after h2 stopped (grace $GRACE s)"
ip3="$(ctr_ip_on h3 r3 two)"
log "r3 on h3: $ip3 (h2's r2 had $ip2)"
[[ $(ipam_json h3 | jq -r --arg a "$A2" '[.pools[] | select(.pool == "10.62.0.0/27") | .held[].owners[] | select(.self == true) ] | length') == 1 ]] ||
  fail "h3 holds no block of 10.62.0.0/27"
weftctl_on h3 ipam | grep -q "reclaimed from $A2@" || fail "weftctl ipam on h3 shows no takeover from h2"
ping_ok_on h3 r3 "$(ctr_ip_on h1 r1 two)"

# ---------------------------------------------------------------- pool names
step "the same weft.name with different subnets on h1 and h3"
assert_ok dh h1 network create -d weft --ipam-driver weft --ipam-opt weft.name=dup --subnet 10.63.0.0/24 dup
assert_ok dh h1 run -d --name d1 --network dup busybox:local sleep 3600
# h3 learns h1's use of the name once it carries the name itself (its
# network create publishes its own use): the create is refused if h1's
# record is there before the gateway's address is asked for, else the
# first container is.
mismatch_on() { [[ $(ipam_json "$1" | jq '.poolNameMismatches | length') == 1 ]]; }
want="pool name dup (--ipam-opt weft.name) is 10.63.0.0/24 on host $A1, not 10.64.0.0/24"
if out="$(dh h3 network create -d weft --ipam-driver weft --ipam-opt weft.name=dup --subnet 10.64.0.0/24 dup 2>&1)"; then
  wait_until 10 mismatch_on h3
  wait_until 10 mismatch_on h1
  assert_fails dh h3 run -d --name d3 --network dup busybox:local sleep 3600
  assert_contains "$E2E_OUT" "$want" "h3's docker run"
  dh h3 rm -f d3 >/dev/null 2>&1 || true
  for h in h1 h3; do
    assert_eq "$(metric "$h" weft_ipam_pool_name_mismatches)" 1 "weft_ipam_pool_name_mismatches on $h"
    weftctl_on "$h" ipam | grep -q "POOL NAME MISMATCH: weft.name dup" || fail "weftctl ipam on $h shows no mismatch"
  done
  wait_until 5 logged h3 "pool name dup is 10.64.0.0/24 on this host but 10.63.0.0/24 on host $A1"
else
  assert_contains "$out" "$want" "h3's network create"
fi
wait_until 5 logged h1 "pool name dup is 10.63.0.0/24 on this host but 10.64.0.0/24 on host $A3"
scrape h1 | promtool check metrics || fail "promtool check metrics refused h1's scrape"

# ---------------------------------------------------------------- forged lease
step "a member with the key forges a takeover of h1's block: refused, logged, counted; h1 keeps it"
AX=198.18.0.12 # the forger: a new member, from h2's namespace (h2's weft is stopped)
ip -n "$(hvar h2 NS)" addr add "$AX/24" dev eth0 || fail "address for the forger"
r1_ip="$(ctr_ip_on h1 r1 two)"
blk=$((${r1_ip##*.} / 16))
block_cidr="10.62.0.$((blk * 16))/28"
claimed="$(jq -r --argjson b "$blk" '.ipam.leases.books[] | select(.pool == "10.62.0.0/27") | .leases[] |
  select(.block == $b) | .claimedAt' "$(hvar h1 WEFT_STATE)/state.json")"
[[ $claimed =~ ^[0-9]+$ ]] || fail "h1's claim of block $blk in its state: \"$claimed\""
declare -A refused_before
for h in h1 h3; do refused_before[$h]="$(metric "$h" weft_ipam_refused_records_total)"; done
# It waits past the grace period after joining: h1 has seen it alive all
# that time, so it cannot have seen h1 gone (the rule a takeover of a
# host's own block is judged by there).
assert_ok tb exec h2 "$FORGE_BIN" --gossip "$WEFT_GOSSIP_BIN" --id "$AX" --key "$KEY" --seed "$A1" \
  --pool 10.62.0.0/27 --block "$blk" --takeover-of "$A1@$claimed" --wait-ms $(((GRACE + 1) * 1000)) \
  --hold-ms 3000 --log "$TB_DIR/forger.log"
log "forger: $E2E_OUT"
refused_more() { (($(metric "$1" weft_ipam_refused_records_total) > ${refused_before[$1]})); }
for h in h1 h3; do
  wait_until 10 refused_more "$h"
  wait_until 10 logged "$h" "lease of block $blk by $AX takes it over from"
done
logged h3 "takes it over from $A1, which is alive here: refused" || fail "h3's log does not say why"
logged h1 "$AX has been alive here for" || fail "h1's log does not say why"
for h in h1 h3; do
  assert_eq "[]" "$(ipam_json "$h" | jq -c '.pools[] | select(.pool == "10.62.0.0/27") | .conflicts')" "conflicts on $h"
  owners="$(ipam_json "$h" | jq -c --arg b "$block_cidr" '.pools[] | select(.pool == "10.62.0.0/27") |
    .held[] | select(.block == $b) | .owners')"
  log "$block_cidr's records on $h: $owners"
  # Holders: records not released (a host that gave the block back keeps
  # a released record of it); the forger has no record at all.
  assert_eq "$A1" "$(jq -r 'map(select(.released != true)) | map(.owner) | join(" ")' <<<"$owners")" \
    "who holds $block_cidr on $h"
  assert_not_contains "$owners" "$AX" "$block_cidr's records on $h"
done
assert_ok dh h1 run -d --name r1b --network two busybox:local sleep 3600
r1b_ip="$(ctr_ip_on h1 r1b two)"
assert_eq "$blk" "$((${r1b_ip##*.} / 16))" "h1 hands out from its block still ($r1b_ip)"
ping_ok_on h3 r3 "$r1_ip"

e2e_pass
