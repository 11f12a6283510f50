#!/usr/bin/env bash
# Underlay faults on three real dockerd hosts (one bed, h1..h3, joined by
# gossip), made with nftables in the hosts' namespaces and the MTU of the
# underlay bridge's ports (issues 10 and 15):
#
# * 10 % random loss on every host's gossip (tcp+udp 7947) and VXLAN (udp
#   4789) input while containers ping across hosts and containers come and
#   go: no member is ever seen dead, and once the loss stops the records
#   converge -- every host ends with exactly the remote endpoints that live
#   on the others, and each sandbox's neighbour, FDB and flood entries are
#   exactly those of the live remote endpoints (nothing stale).
# * VXLAN port blocked on h3 (udp 4789 dropped on input, gossip passes):
#   `weftctl check` fails on h3 and on h1 naming UDP 4789 and gossip
#   reaching the host, within a bounded time; it passes again once the rule
#   is gone.
# * MTU black hole: the underlay bridge's port to h3 carries 1400 bytes
#   (frames of 1450-byte networks are 1500): small packets pass, full-size
#   ones are dropped without a word; `weftctl check` fails on h3 and on h1
#   naming the MTU; it passes again once the MTU is back.
# * MTU mismatch between hosts of one network: n2 (--subnet 10.11.0.0/24,
#   the same network on every host) created with -o mtu=1400 on h1 and h3
#   but 1450 on h2: `weftctl check` fails on all three naming the network,
#   each host and its MTU and what to do (--json too), and
#   weft_network_mtu_mismatches says 1; once h2 creates it again with
#   -o mtu=1400 it passes everywhere and the gauge is 0.
# The data-plane faults show in the metrics too (weft_dataplane_peers by
# state), and every scrape passes `promtool check metrics`.
# Everything lives in the bed's namespaces: its teardown removes the nft
# tables and links with them, also on failure.
# shellcheck disable=SC2154  # TB_* come from the bed's env file
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=weft_lib.sh
source "$E2E_LIB_DIR/weft_lib.sh"

e2e_require_multihost
e2e_require_cmd nft curl promtool jq
e2e_bed_up 3

HOSTS=(h1 h2 h3)
A1="$TB_h1_ADDR" A3="$TB_h3_ADDR"
KEY="$(new_cluster_key)"
show_peers_on_failure
# How long a fault may take to show in `weftctl check`: 3 probe rounds of 2 s
# (failAfter) plus the round's 1 s wait, plus slack for a loaded machine.
DETECT_S=15
METRICS=127.0.0.1:9947  # inside each host's namespace

# scrape HOST : HOST's /metrics.
scrape() { ip netns exec "$(hvar "$1" NS)" curl -sf --max-time 5 "http://$METRICS/metrics"; }
# metric HOST SERIES : the value of SERIES (name and labels, exactly as
# exposed) in HOST's scrape; "none" when it is absent.
metric() { scrape "$1" | awk -v k="$2" '$1 == k {v = $2} END {print (v == "" ? "none" : v)}'; }
# metric_is HOST SERIES VALUE : (for wait_until)
metric_is() {
  local v
  v="$(metric "$1" "$2")"
  [[ $v == "$3" ]] || { echo "$1: $2 is $v, want $3"; return 1; }
}

# nft_on HOST ARGS... : nft in HOST's namespace.
nft_on() {
  local ns
  ns="$(hvar "$1" NS)"
  shift
  ip netns exec "$ns" nft "$@"
}
# check_json HOST : `weftctl --json check` of HOST (it exits 1 when there are problems).
check_json() { weftctl_on "$1" --json check || true; }
# check_ok HOST : no problem on HOST (for wait_until).
check_ok() {
  local j
  j="$(check_json "$1")"
  [[ $(jq -r .ok <<<"$j") == true ]] || { echo "$1: $j"; return 1; }
}
# check_says HOST TEXT... : `weftctl check` fails on HOST with a data-plane
# problem containing every TEXT (for wait_until).
check_says() {
  local h="$1" out rc=0 t
  shift
  out="$(weftctl_on "$h" check)" || rc=$?
  ((rc == 1)) || { echo "$h: weftctl check exited $rc: $out"; return 1; }
  for t in "$@"; do
    [[ $out == *"$t"* ]] || { echo "$h: weftctl check lacks '$t':"$'\n'"$out"; return 1; }
  done
}
# data_state HOST PEER : HOST's data-plane state of PEER (ok, vxlan-fails, ...).
data_state() {
  peers_json "$1" | jq -r --arg p "$2" '[.dataPlane.peers[] | select(.vtep == $p) | .state][0] // "none"'
}
data_ok() {
  local s
  s="$(data_state "$1" "$2")"
  [[ $s == ok ]] || { echo "$1 sees the data path to $2 as $s"; return 1; }
}

# expected_remote HOST : "IP MAC VTEP" of every live container not on HOST.
expected_remote() {
  local c
  for c in "${!HOST_OF[@]}"; do
    [[ ${HOST_OF[$c]} == "$1" || -z ${LIVE[$c]:-} ]] && continue
    echo "${IP[$c]} ${MAC[$c]} $(haddr "${HOST_OF[$c]}")"
  done | sort
}
# exact_entries HOST : HOST's records and its sandbox's kernel entries are
# exactly those of the live remote containers: nothing missing, nothing stale.
exact_entries() {
  local h="$1" want
  want="$(expected_remote "$h")"
  local ips neigh fdb flood
  ips="$(awk '{print $1}' <<<"$want" | sort)"
  neigh="$(awk '{print $1, $2}' <<<"$want" | sort)"
  fdb="$(awk '{print $2, $3}' <<<"$want" | sort)"
  flood="$(awk '{print "00:00:00:00:00:00", $3}' <<<"$want" | sort -u)"
  [[ $(remote_ips "$h") == "$ips" ]] || { echo "$h records: $(remote_ips "$h" | tr '\n' ' ') want $ips"; return 1; }
  [[ $(sandbox_neigh "$h" n1) == "$neigh" ]] || { echo "$h neigh:"$'\n'"$(sandbox_neigh "$h" n1)"$'\n'"want:"$'\n'"$neigh"; return 1; }
  [[ $(sandbox_fdb "$h" n1) == "$(printf '%s\n%s\n' "$fdb" "$flood" | sort)" ]] ||
    { echo "$h fdb:"$'\n'"$(sandbox_fdb "$h" n1)"$'\n'"want:"$'\n'"$fdb"$'\n'"$flood"; return 1; }
}
declare -A LIVE
live_ctr() { ctr "$1" "$2"; LIVE[$2]=1; }
gone_ctr() { assert_ok dh "${HOST_OF[$1]}" rm -f "$1"; unset "LIVE[$1]"; }

step "weft on three hosts; network n1 on each; c1, c2, c3 (one per host)"
for h in "${HOSTS[@]}"; do weft_start_on "$h" "$KEY" --metrics-addr "$METRICS"; done
for i in 1 2 3; do
  assert_ok dh "h$i" network create -d weft --ipam-driver weft --subnet 10.10.0.0/24 \
    --ip-range "10.10.0.$((i * 32))/27" n1
done
wait_until 20 converged h1 h2 h3
live_ctr h1 c1
live_ctr h2 c2
live_ctr h3 c3
for h in "${HOSTS[@]}"; do wait_until 15 exact_entries "$h"; done
timer_start probes
for h in "${HOSTS[@]}"; do wait_until "$DETECT_S" check_ok "$h"; done
for p in "$TB_h2_ADDR" "$A3"; do wait_until "$DETECT_S" data_ok h1 "$p"; done
log "every data path probed ok $(timer_ms probes) ms after the containers came up"
log "h1's view:"$'\n'"$(weftctl_on h1 peers | sed -n '/^data plane/,$p')"

# ---------------------------------------------------------------- 10 % loss
step "10 % loss on every host's gossip and VXLAN input; containers ping and come and go"
for h in "${HOSTS[@]}"; do
  nft_on "$h" -f - <<'EOF' || fail "nft on $h"
table inet weft_fault_loss {
  chain input {
    type filter hook input priority 0; policy accept;
    udp dport 4789 numgen random mod 100 < 10 counter drop
    meta l4proto { tcp, udp } th dport 7947 numgen random mod 100 < 10 counter drop
    tcp sport 7947 numgen random mod 100 < 10 counter drop
  }
}
EOF
done
DEAD_SEEN=""
# no_death : no host sees another dead right now (sampled all along).
no_death() {
  local h o s
  for h in "${HOSTS[@]}"; do
    for o in "${HOSTS[@]}"; do
      [[ $h == "$o" ]] && continue
      s="$(member_state "$h" "$(haddr "$o")")"
      [[ $s == dead || $s == left || $s == none ]] && DEAD_SEEN+="$h saw $o $s; "
    done
  done
  return 0
}
# some_pings HOST FROM TARGET : at least one of 5 pings is answered.
some_pings() {
  assert_ok dh "$1" exec "$2" ping -c 5 -i 0.2 -W 2 "$3"
  [[ $E2E_OUT != *" 0 packets received"* ]] || fail "$1/$2 -> $3: nothing answered under 10 % loss"
}
timer_start loss
round=0
for pair in "h1 c1 c2" "h2 c2 c3" "h3 c3 c1"; do
  read -r h from to <<<"$pair"
  some_pings "$h" "$from" "${IP[$to]}"
done
no_death
# Containers come and go while the loss lasts.
for step_ in "live h1 c1b" "live h2 c2b" "gone c3" "live h3 c3b" "gone c2b" "live h2 c2c" "gone c1b" "live h1 c1c"; do
  read -r what a b <<<"$step_"
  if [[ $what == live ]]; then live_ctr "$a" "$b"; else gone_ctr "$a"; fi
  no_death
  round=$((round + 1))
done
for pair in "h1 c1 c2c" "h2 c2 c3b" "h3 c3b c1c"; do
  read -r h from to <<<"$pair"
  some_pings "$h" "$from" "${IP[$to]}"
done
# Keep the loss on for 40 s in all, watching the members.
while (($(timer_ms loss) < 40000)); do
  no_death
  sleep 1
done
[[ -z $DEAD_SEEN ]] || fail "false death under 10 % loss: $DEAD_SEEN"
dropped="$(for h in "${HOSTS[@]}"; do nft_on "$h" list table inet weft_fault_loss; done | grep -o 'packets [0-9]*' | awk '{s += $2} END {print s + 0}')"
log "loss on for $(timer_ms loss) ms ($dropped packets dropped), $round container changes; no member seen dead"

step "loss removed: records and kernel entries converge to exactly the live endpoints"
for h in "${HOSTS[@]}"; do nft_on "$h" delete table inet weft_fault_loss || fail "nft delete on $h"; done
timer_start heal
for h in "${HOSTS[@]}"; do wait_until 30 exact_entries "$h"; done
log "every host exact $(timer_ms heal) ms after the loss stopped"
assert_ok converged h1 h2 h3
ping_ok_on h1 c1 "${IP[c3b]}"
ping_ok_on h3 c3b "${IP[c2c]}"
ping_ok_on h2 c2c "${IP[c1c]}"
for h in "${HOSTS[@]}"; do wait_until "$DETECT_S" check_ok "$h"; done

# ---------------------------------------------------------------- VXLAN port blocked
step "h3 drops udp 4789 on input (gossip passes): weftctl check fails on h3 and h1"
nft_on h3 -f - <<'EOF' || fail "nft on h3"
table inet weft_fault_vxlan {
  chain input {
    type filter hook input priority 0; policy accept;
    udp dport 4789 drop
  }
}
EOF
timer_start block
wait_until "$DETECT_S" check_says h1 "VXLAN to $A3:4789 fails while gossip reaches it" "check that UDP 4789 passes"
log "h1 reported it after $(timer_ms block) ms"
wait_until "$DETECT_S" check_says h3 "VXLAN to $A1:4789 fails while gossip reaches it" "check that UDP 4789 passes"
log "h3 reported it after $(timer_ms block) ms"
log "h1: $(weftctl_on h1 check | head -n 1)"
assert_ok converged h1 h2 h3    # the control plane never noticed
assert_eq "$(data_state h1 "$A3")" vxlan-fails "h1's data path to h3"
assert_eq "$(data_state h1 "$TB_h2_ADDR")" ok "h1's data path to h2 (not blocked)"
n1id="$(weftctl_on h1 --json networks | jq -r '.networks[0].identity')"
assert_eq 1 "$(metric h1 "weft_dataplane_peers{network=\"$n1id\",state=\"vxlan_fails\"}")" \
  "h1's metrics: one peer host of n1 whose VXLAN fails"
ping_fails_on h1 c1 "${IP[c3b]}"

step "rule removed: weftctl check passes again on both"
nft_on h3 delete table inet weft_fault_vxlan || fail "nft delete on h3"
timer_start unblock
wait_until "$DETECT_S" check_ok h1
wait_until "$DETECT_S" check_ok h3
log "both pass again $(timer_ms unblock) ms after the rule went"
ping_ok_on h1 c1 "${IP[c3b]}"

# ---------------------------------------------------------------- MTU black hole
step "the underlay's port to h3 carries only 1400 bytes: weftctl check names the MTU on h3 and h1"
assert_ok ip -n "$TB_UNDERLAY_NS" link set h3 mtu 1400
timer_start mtu
wait_until "$DETECT_S" check_says h1 "packets of 1450 bytes to $A3 are lost but small ones pass" "MTU black hole"
log "h1 reported it after $(timer_ms mtu) ms"
wait_until "$DETECT_S" check_says h3 "packets of 1450 bytes to $A1 are lost but small ones pass" "MTU black hole"
log "h3 reported it after $(timer_ms mtu) ms"
log "h3: $(weftctl_on h3 check | head -n 1)"
assert_eq 1 "$(metric h1 "weft_dataplane_peers{network=\"$n1id\",state=\"mtu_fails\"}")" \
  "h1's metrics: one peer host of n1 behind an MTU black hole"
ping_ok_on h1 c1 "${IP[c3b]}"   # small packets pass
# Full-size ones do not (1422 + 28 = the network's 1450; 1500 on the wire).
assert_fails dh h1 exec c1 ping -c 2 -W 1 -s 1422 "${IP[c3b]}"

step "MTU restored: weftctl check passes again on both"
assert_ok ip -n "$TB_UNDERLAY_NS" link set h3 mtu "$TB_MTU"
timer_start mtuback
wait_until "$DETECT_S" check_ok h1
wait_until "$DETECT_S" check_ok h3
log "both pass again $(timer_ms mtuback) ms after the MTU came back"
ping_ok_on h1 c1 "${IP[c3b]}"
assert_ok dh h1 exec c1 ping -c 2 -W 2 -s 1422 "${IP[c3b]}"

# ---------------------------------------------------------------- MTU mismatch between hosts
step "n2 (10.11.0.0/24 on every host) with -o mtu=1400 on h1 and h3 but 1450 on h2: weftctl check fails on all three"
A2="$TB_h2_ADDR" N2="(subnet:10.11.0.0/24)"
assert_eq 0 "$(metric h1 weft_network_mtu_mismatches)" "h1's MTU mismatches before n2"
for h in h1 h3; do assert_ok dh "$h" network create -d weft --subnet 10.11.0.0/24 -o mtu=1400 n2; done
assert_ok dh h2 network create -d weft --subnet 10.11.0.0/24 -o mtu=1450 n2
timer_start mtumix
FIX="create the network with the same -o mtu on every host (e.g. -o mtu=1400), or fix the underlay MTU of"
wait_until 15 check_says h1 "$N2 has MTU 1400 on this host ($A1) but 1450 on host $A2" "$FIX $A1 (this host)"
wait_until 15 check_says h2 "$N2 has MTU 1450 on this host ($A2) but 1400 on host $A1" "$FIX $A1" \
  "$N2 has MTU 1450 on this host ($A2) but 1400 on host $A3" "$FIX $A3"
wait_until 15 check_says h3 "$N2 has MTU 1400 on this host ($A3) but 1450 on host $A2" "$FIX $A3 (this host)"
log "all three report it $(timer_ms mtumix) ms after the last create; h2:"$'\n'"$(weftctl_on h2 check)"
j="$(check_json h2)"
assert_eq false "$(jq -r .ok <<<"$j")" "h2's weftctl --json check: ok"
assert_eq 2 "$(jq '[.problems[] | select(.kind == "mtu")] | length' <<<"$j")" "h2's --json MTU problems"
for a in "$A1" "$A3"; do
  assert_eq "1450 1400" "$(jq -r --arg a "$a" '.problems[] | select(.kind == "mtu" and .peer == $a) | "\(.mtu) \(.peerMtu)"' <<<"$j")" \
    "h2's --json MTU problem with $a (its MTU, the other's)"
done
assert_eq 1450 "$(weftctl_on h1 --json status | jq -r --arg a "$A2" '.networkMtus[] | select(.identity == "subnet:10.11.0.0/24") | .hosts[$a]')" \
  "h1's weftctl status: h2's MTU of n2"
for h in h1 h2 h3; do assert_eq 1 "$(metric "$h" weft_network_mtu_mismatches)" "$h: networks with an MTU mismatch"; done
scrape h2 | promtool check metrics || fail "promtool check metrics refused h2's scrape"

step "h2 creates n2 again with -o mtu=1400: weftctl check passes on all three"
assert_ok dh h2 network rm n2
assert_ok dh h2 network create -d weft --subnet 10.11.0.0/24 -o mtu=1400 n2
timer_start mtufix
for h in h1 h2 h3; do wait_until 15 check_ok "$h"; done
log "all three pass again $(timer_ms mtufix) ms after the fix"
for h in h1 h2 h3; do assert_eq 0 "$(metric "$h" weft_network_mtu_mismatches)" "$h: MTU mismatches after the fix"; done

e2e_pass
