#!/usr/bin/env bash
# What Docker's overlay does not do across hosts, pinned down on weft (issue
# 14, "lock in what works"), on three real dockerd hosts joined by gossip:
#
# * dual-stack networks (--ipv6, an IPv4 and an IPv6 subnet), one with
#   Docker's IPAM and one with weft's: ping6 and TCP over IPv6 between the
#   containers of every pair of hosts, both directions; every host's sandbox
#   holds the IPv6 neighbour entry of every remote container, and when a
#   container goes, its IPv6 neighbour and FDB entries vanish on the others;
# * multicast: a sender on h1 and receivers on h1, h2 and h3, to an IPv4
#   group (239.1.2.3) and an IPv6 group (ff0e::1:3): each receiver gets at
#   least 99 % of 1,000 datagrams;
# * broadcast to the subnet's broadcast address reaches every host the same.
#
# The containers' image carries tests/tools/weft-mcast (the sender/receiver).
# shellcheck disable=SC2154  # TB_* come from the bed's env file
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=weft_lib.sh
source "$E2E_LIB_DIR/weft_lib.sh"

e2e_require_multihost
MCAST_BIN="${WEFT_BIN:-$E2E_REPO/build/bin}/weft-mcast"
[[ -x $MCAST_BIN ]] || e2e_skip "no $MCAST_BIN (build it: ninja -C build weft-mcast)"
export TB_IMAGE_BINS="iperf3 $MCAST_BIN"
e2e_bed_up 3

HOSTS=(h1 h2 h3)
KEY="$(new_cluster_key)"
show_peers_on_failure
DATAGRAMS=1000
MIN_SHARE=990 # 99 %

# ip6_on HOST CONTAINER NETWORK : the container's IPv6 address on NETWORK.
ip6_on() { dh "$1" inspect -f "{{(index .NetworkSettings.Networks \"$3\").GlobalIPv6Address}}" "$2"; }
# iface_on HOST CONTAINER IPV4 : the container's interface holding IPV4.
iface_on() {
  dh "$1" exec "$2" ip -o -4 addr show | awk -v ip="$3" '{split($4, a, "/"); if (a[1] == ip) print $2}'
}
# tcp6_ok HOST FROM TARGET6 : TCP over IPv6 from FROM (on HOST) to the iperf3
# server at TARGET6 moves 256 KiB.
tcp6_ok() {
  assert_ok dh "$1" exec "$2" iperf3 -6 -c "$3" -n 256K --connect-timeout 3000
  assert_contains "$E2E_OUT" "receiver" "$1/$2 -> [$3] TCP"
}

step "weft on three hosts; two dual-stack networks on each (Docker's IPAM: dnet; weft's IPAM: wnet)"
for h in "${HOSTS[@]}"; do weft_start_on "$h" "$KEY"; done
for i in 1 2 3; do
  assert_ok dh "h$i" network create -d weft --ipv6 \
    --subnet 10.70.0.0/24 --ip-range "10.70.0.$((64 * i))/26" \
    --subnet fd00:70::/64 --ip-range "fd00:70::$i:0/112" dnet
  assert_ok dh "h$i" network create -d weft --ipam-driver weft --ipv6 \
    --subnet 10.71.0.0/24 --ip-range "10.71.0.$((64 * i))/26" \
    --subnet fd00:71::/64 --ip-range "fd00:71::$i:0/112" wnet
done

declare -A V4 V6 MAC
for i in 1 2 3; do
  run_ctr_on "h$i" "c$i" dnet
  assert_ok dh "h$i" network connect wnet "c$i"
  assert_ok dh "h$i" exec "c$i" iperf3 -s -D
  for net in dnet wnet; do
    V4[c$i.$net]="$(ctr_ip_on "h$i" "c$i" "$net")"
    V6[c$i.$net]="$(ip6_on "h$i" "c$i" "$net")"
    MAC[c$i.$net]="$(ctr_mac_on "h$i" "c$i" "$net")"
    assert_match '^fd00:7[01]::' "${V6[c$i.$net]}" "c$i's IPv6 address on $net"
  done
done
log "dnet: ${V6[c1.dnet]} ${V6[c2.dnet]} ${V6[c3.dnet]}; wnet: ${V6[c1.wnet]} ${V6[c2.wnet]} ${V6[c3.wnet]}"

step "ping6 and TCP over IPv6 between every pair of hosts, on both networks"
for net in dnet wnet; do
  for i in 1 2 3; do
    for j in 1 2 3; do
      ((i == j)) && continue
      time_it "first ping6 c$i -> c$j on $net" wait_until 20 pings "h$i" "c$i" "${V6[c$j.$net]}"
      ping_ok_on "h$i" "c$i" "${V6[c$j.$net]}" 3
      tcp6_ok "h$i" "c$i" "${V6[c$j.$net]}"
    done
  done
done

step "every host's sandbox holds the IPv6 neighbour and FDB entries of the others' containers"
for net in dnet wnet; do
  for i in 1 2 3; do
    for j in 1 2 3; do
      ((i == j)) && continue
      wait_until 10 has_peer_entries "h$i" "$net" "${V6[c$j.$net]}" "${MAC[c$j.$net]}" "$(haddr "h$j")"
    done
  done
done

step "a container that goes: its IPv6 neighbour and FDB entries vanish on the other hosts"
run_ctr_on h3 gone dnet
g6="$(ip6_on h3 gone dnet)"
gmac="$(ctr_mac_on h3 gone dnet)"
for h in h1 h2; do wait_until 10 has_peer_entries "$h" dnet "$g6" "$gmac" "$TB_h3_ADDR"; done
ping_ok_on h1 c1 "$g6" 2
assert_ok dh h3 rm -f gone
for h in h1 h2; do wait_until 10 lacks_peer_entries "$h" dnet "$g6" "$gmac"; done
ping_ok_on h1 c1 "${V6[c3.dnet]}" 2 # h3's other container is still there

# ---------------------------------------------------------------- multicast
run_ctr_on h1 sender wnet
# deliver LABEL NETWORK GROUP PORT : c1..c3 receive on NETWORK's interface,
# the sender on h1 sends DATAGRAMS; each receiver must get MIN_SHARE.
deliver() {
  local label="$1" net="$2" group="$3" port="$4" i f siface
  local -a pids=()
  for i in 1 2 3; do
    f="$E2E_BED_PARENT/mcast-$port-c$i.txt"
    dh "h$i" exec "c$i" weft-mcast recv "$group" "$port" 20 "$(iface_on "h$i" "c$i" "${V4[c$i.$net]}")" "$DATAGRAMS" \
      >"$f" 2>&1 &
    pids+=($!)
  done
  for i in 1 2 3; do
    wait_until 10 grep -q ready "$E2E_BED_PARENT/mcast-$port-c$i.txt"
  done
  sleep 1 # the receivers' reports reach the bridges
  siface="$(iface_on h1 sender "$(ctr_ip_on h1 sender "$net")")"
  time_it "$label: send $DATAGRAMS" assert_ok dh h1 exec sender weft-mcast send "$group" "$port" "$DATAGRAMS" 1000 "$siface"
  for i in 1 2 3; do
    wait "${pids[$((i - 1))]}" || fail "$label: receiver c$i failed: $(cat "$E2E_BED_PARENT/mcast-$port-c$i.txt")"
    local got
    got="$(awk '/^received/ {print $2}' "$E2E_BED_PARENT/mcast-$port-c$i.txt")"
    log "RESULT $label: c$i (h$i) received ${got:-0}/$DATAGRAMS"
    assert_int_le "$MIN_SHARE" "${got:-0}" "$label: datagrams at c$i on h$i"
  done
}
assert_ok dh h1 network connect dnet sender
step "IPv4 multicast 239.1.2.3 on wnet: a sender on h1, receivers on h1, h2, h3"
deliver "IPv4 multicast" wnet 239.1.2.3 5001
step "IPv6 multicast ff0e::1:3 on dnet"
deliver "IPv6 multicast" dnet ff0e::1:3 5002
step "broadcast to 10.71.0.255 on wnet reaches every host"
deliver "broadcast" wnet 10.71.0.255 5003

e2e_pass
