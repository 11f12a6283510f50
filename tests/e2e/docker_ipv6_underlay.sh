#!/usr/bin/env bash
# weft over an IPv6-only underlay (issue 14): three real dockerd hosts whose
# only underlay addresses are fd18::1..3 (TB_UNDERLAY=ipv6; no IPv4 address
# on their eth0), ADVERTISE_ADDR and PEERS IPv6, gossip over [fd18::i]:7946.
#
# * every host sees the others alive; each network's VTEP has an IPv6 local
#   address, and the network's MTU is the underlay's less 70 bytes; br0
#   holds the IPv6 gateway, which each container pings;
# * a dual-stack network (10.72.0.0/24 + fd00:72::/64): ping, ping6 and TCP
#   over IPv6 between the containers of every pair of hosts;
# * every host's sandbox holds the others' containers' IPv6 neighbour entries
#   and FDB entries pointing at their IPv6 VTEPs; a container that goes:
#   its IPv6 neighbour and FDB entries vanish on the other hosts;
# * data-plane probes (ICMPv6 through the health namespace's IPv6 VTEP) find
#   every peer host ok and `weftctl check` passes on each host;
# * weftctl shows the endpoints' IPv6 addresses and the gossip members as
#   bracketed [fd18::i]:port;
# * mixed families are refused: an IPv4 PEERS entry stops weft at start.
# shellcheck disable=SC2154  # TB_* come from the bed's env file
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=weft_lib.sh
source "$E2E_LIB_DIR/weft_lib.sh"

e2e_require_multihost
export TB_IMAGE_BINS="iperf3"
export TB_UNDERLAY=ipv6
e2e_bed_up 3

HOSTS=(h1 h2 h3)
KEY="$(new_cluster_key)"
show_peers_on_failure

ip6_on() { dh "$1" inspect -f "{{(index .NetworkSettings.Networks \"$3\").GlobalIPv6Address}}" "$2"; }

step "the underlay is IPv6 only"
for h in "${HOSTS[@]}"; do
  assert_match '^fd18::[123]$' "$(haddr "$h")" "$h's underlay address"
  assert_ok tb exec "$h" ip -4 -o addr show dev eth0
  assert_eq "" "$E2E_OUT" "$h's IPv4 addresses on the underlay"
done

step "an IPv4 peer for an IPv6 host stops weft at start, naming the peer and both families"
assert_fails tb weft-start h1 --key "$KEY" --peers 198.18.0.2
assert_contains "$E2E_OUT" 'PEERS entry "198.18.0.2" is an IPv4 address but ADVERTISE_ADDR "fd18::1" is IPv6' \
  "weft-plugin's refusal"

step "weft on three hosts, advertising and peering over IPv6"
for h in "${HOSTS[@]}"; do weft_start_on "$h" "$KEY"; done
time_it "gossip converged over IPv6" wait_until 30 converged "${HOSTS[@]}"
assert_ok weftctl_on h2 peers
assert_contains "$E2E_OUT" "[fd18::1]:" "weftctl peers shows h1's gossip address bracketed"

step "a dual-stack network on each host; its VTEP is IPv6, its MTU the underlay's less 70"
for i in 1 2 3; do
  assert_ok dh "h$i" network create -d weft --ipv6 \
    --subnet 10.72.0.0/24 --ip-range "10.72.0.$((64 * i))/26" \
    --subnet fd00:72::/64 --ip-range "fd00:72::$i:0/112" v6net
done
declare -A V4 V6 MACS
for i in 1 2 3; do
  run_ctr_on "h$i" "c$i" v6net
  assert_ok dh "h$i" exec "c$i" iperf3 -s -D
  V4[c$i]="$(ctr_ip_on "h$i" "c$i" v6net)"
  V6[c$i]="$(ip6_on "h$i" "c$i" v6net)"
  MACS[c$i]="$(ctr_mac_on "h$i" "c$i" v6net)"
  assert_match '^fd00:72::' "${V6[c$i]}" "c$i's IPv6 address"
  assert_ok in_sandbox "h$i" v6net ip -d link show "$(vtep_on "h$i" v6net)"
  assert_contains "$E2E_OUT" "local $(haddr "h$i") " "h$i's VTEP sends from its IPv6 underlay address"
  assert_ok dh "h$i" exec "c$i" cat /sys/class/net/eth0/mtu
  assert_eq "$((TB_MTU - 70))" "$E2E_OUT" "c$i's MTU (underlay $TB_MTU less 70 bytes of VXLAN over IPv6)"
done

step "each container reaches the IPv6 gateway on its host's br0"
for i in 1 2 3; do
  # Docker's IPAM makes the first address of each host's --ip-range its
  # gateway (network inspect does not show one it chose itself).
  gw6="fd00:72::$i:0"
  assert_ok in_sandbox "h$i" v6net ip -6 -o addr show dev br0
  assert_contains "$E2E_OUT" "$gw6/64" "h$i's br0 holds the IPv6 gateway"
  ping_ok_on "h$i" "c$i" "$gw6" 2
done

step "ping, ping6 and TCP over IPv6 between every pair of hosts"
for i in 1 2 3; do
  for j in 1 2 3; do
    ((i == j)) && continue
    time_it "first ping6 c$i -> c$j" wait_until 20 pings "h$i" "c$i" "${V6[c$j]}"
    ping_ok_on "h$i" "c$i" "${V6[c$j]}" 3
    ping_ok_on "h$i" "c$i" "${V4[c$j]}" 2
    assert_ok dh "h$i" exec "c$i" iperf3 -6 -c "${V6[c$j]}" -n 256K --connect-timeout 3000
    assert_contains "$E2E_OUT" "receiver" "h$i/c$i -> [${V6[c$j]}] TCP"
  done
done

step "data-plane probes run over the IPv6 underlay: every peer host ok, weftctl check passes"
# probes_ok HOST PEER... : HOST probes (ICMPv6 through its health namespace's
# IPv6 VTEP) and each PEER answers, small and MTU-sized; `weftctl check` ok.
probes_ok() {
  local h="$1" j v s
  shift
  j="$(peers_json "$h")"
  [[ $(jq -r .dataPlane.probing <<<"$j") == true ]] || { echo "$h: probes off: $(jq -c .dataPlane <<<"$j")"; return 1; }
  for v in "$@"; do
    s="$(jq -r --arg p "$v" '[.dataPlane.peers[] | select(.vtep == $p) | .state][0] // "none"' <<<"$j")"
    [[ $s == ok ]] || { echo "$h: data path to $v is $s"; return 1; }
  done
  j="$(weftctl_on "$h" --json check || true)"
  [[ $(jq -r .ok <<<"$j") == true ]] || { echo "$h: weftctl check: $j"; return 1; }
}
for i in 1 2 3; do
  others=()
  for j in 1 2 3; do ((i == j)) || others+=("$(haddr "h$j")"); done
  time_it "h$i's probes ok" wait_until 20 probes_ok "h$i" "${others[@]}"
done
log "h1's view:"$'\n'"$(weftctl_on h1 peers | sed -n '/^data plane/,$p')"

step "every host holds the others' IPv6 neighbour entries, FDB entries to their IPv6 VTEPs"
for i in 1 2 3; do
  for j in 1 2 3; do
    ((i == j)) && continue
    wait_until 10 has_peer_entries "h$i" v6net "${V6[c$j]}" "${MACS[c$j]}" "$(haddr "h$j")"
  done
done

step "weftctl shows the IPv6 addresses of local and remote endpoints"
assert_ok weftctl_on h1 endpoints
assert_contains "$E2E_OUT" "${V6[c1]}/64" "weftctl endpoints on h1 shows c1's IPv6 address"
assert_ok weftctl_on h1 peers
for j in 2 3; do
  assert_contains "$E2E_OUT" "${V6[c$j]}/64" "weftctl peers on h1 shows c$j's IPv6 address"
  assert_contains "$E2E_OUT" "[$(haddr "h$j")]:7947" "weftctl peers on h1 shows h$j's gossip address bracketed"
done

step "a container that goes: its IPv6 neighbour and FDB entries vanish on the other hosts"
run_ctr_on h3 gone v6net
g6="$(ip6_on h3 gone v6net)"
gmac="$(ctr_mac_on h3 gone v6net)"
for h in h1 h2; do wait_until 10 has_peer_entries "$h" v6net "$g6" "$gmac" "$TB_h3_ADDR"; done
ping_ok_on h1 c1 "$g6" 2
assert_ok dh h3 rm -f gone
for h in h1 h2; do wait_until 10 lacks_peer_entries "$h" v6net "$g6" "$gmac"; done
ping_ok_on h1 c1 "${V6[c3]}" 2 # h3's other container is still there

e2e_pass
