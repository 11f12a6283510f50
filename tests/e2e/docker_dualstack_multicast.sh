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
# * broadcast to the subnet's broadcast address reaches every host the same;
# * multicast pruning (MCAST_PRUNING, on by default): with a listener on h2
#   only, the group's frames cross the underlay to h2 and none reach h3
#   (an nftables counter on the frames to the group's MAC arriving through
#   h3's VTEP); a receiver that joins late on h3 gets the group within 1 s;
#   once it leaves, h3 gets none again; IPv4 (239.x) and IPv6 (ff0e::).
# * an encrypted network (-o encrypted: weft's userspace datapath, head-end
#   replication of sealed datagrams): a group reaches receivers on h1, h2
#   and h3 (>= 99 % of 1,000 each) and broadcast reaches every host; with a
#   listener on h2 only, the group's datagrams cross the underlay to h2 and
#   none to h3. Counted by an nftables counter in each host's namespace on
#   UDP to ENCRYPTED_PORT longer than 1,000 bytes: the sender pads its
#   datagrams to 1,200 bytes, every other encrypted frame crossing meanwhile
#   (IGMP/MLD queries and reports, ARP, ND) is under 200 bytes.
#
# The containers' image carries tests/tools/weft-mcast (the sender/receiver).
# shellcheck disable=SC2154  # TB_* come from the bed's env file
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=weft_lib.sh
source "$E2E_LIB_DIR/weft_lib.sh"

e2e_require_multihost
e2e_require_cmd nft
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
# fdb_dsts HOST NETWORK MAC : the destinations of MAC's entry on HOST's VTEP,
# sorted, space-separated. dsts_are HOST NETWORK MAC WANT (for wait_until).
fdb_dsts() { sandbox_fdb "$1" "$2" | awk -v m="$3" '$1 == m {print $2}' | sort | paste -sd' '; }
dsts_are() {
  local got
  got="$(fdb_dsts "$1" "$2" "$3")"
  [[ $got == "$4" ]] || { echo "$1: $3 -> '$got', want '$4'"; return 1; }
}
# mc_counter_add HOST NETWORK MAC : counts, in HOST's sandbox of NETWORK, the
# frames to MAC that arrive through the VTEP (from the underlay); gone with
# the sandbox. mc_count HOST NETWORK : that count.
mc_counter_add() {
  in_sandbox "$1" "$2" nft -f - <<EOF
table bridge weft_e2e_mc {
  chain pre { type filter hook prerouting priority -300; iifname "wx-*" ether daddr $3 counter; }
}
EOF
}
mc_count() {
  in_sandbox "$1" "$2" nft list table bridge weft_e2e_mc |
    awk '{for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1)}'
}
run_ctr_on h1 sender wnet
# deliver LABEL NETWORK GROUP PORT [MAC [HOSTS]] : c1..c3 receive on NETWORK's
# interface, the sender on h1 sends DATAGRAMS; each receiver must get
# MIN_SHARE. MAC: wait for h1's VTEP entry for it; HOSTS (encrypted): wait
# until h1 sends the group to HOSTS.
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
  # The receivers' joins reach the bridges and, through gossip, the
  # sender's host: its VTEP's entry for the group lists both other hosts.
  [[ -z ${5:-} ]] || wait_until 5 dsts_are h1 "$net" "$5" "$(haddr h2) $(haddr h3)"
  [[ -z ${6:-} ]] || wait_until 5 hosts_are h1 "$net" "$group" "$6"
  sleep 0.2
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
deliver "IPv4 multicast" wnet 239.1.2.3 5001 01:00:5e:01:02:03
step "IPv6 multicast ff0e::1:3 on dnet"
deliver "IPv6 multicast" dnet ff0e::1:3 5002 33:33:00:01:00:03
step "broadcast to 10.71.0.255 on wnet reaches every host"
deliver "broadcast" wnet 10.71.0.255 5003

# prune LABEL NETWORK GROUP MAC PORT : a listener on h2 only; see the header.
prune() {
  local label="$1" net="$2" group="$3" mac="$4" port="$5" siface before after first got
  local f2="$E2E_BED_PARENT/prune-$port-c2.txt" f3="$E2E_BED_PARENT/prune-$port-c3.txt"
  siface="$(iface_on h1 sender "$(ctr_ip_on h1 sender "$net")")"
  dh h2 exec c2 weft-mcast recv "$group" "$port" 30 "$(iface_on h2 c2 "${V4[c2.$net]}")" >"$f2" 2>&1 &
  local p2=$!
  wait_until 10 grep -q ready "$f2"
  time_it "$label: h1 sends to h2 only" wait_until 5 dsts_are h1 "$net" "$mac" "$(haddr h2)"
  for h in h2 h3; do mc_counter_add "$h" "$net" "$mac"; done
  assert_ok dh h1 exec sender weft-mcast send "$group" "$port" 500 1000 "$siface"
  sleep 0.3
  log "RESULT $label: frames to $mac through the VTEP: h2 $(mc_count h2 "$net"), h3 $(mc_count h3 "$net")"
  assert_int_le 495 "$(mc_count h2 "$net")" "$label: frames reaching h2 (listener)"
  assert_eq 0 "$(mc_count h3 "$net")" "$label: frames reaching h3 (no listener)"

  # A late joiner on h3, while h1 sends 1,000 datagrams a second for 4 s.
  dh h1 exec sender weft-mcast send "$group" "$port" 4000 1000 "$siface" >/dev/null 2>&1 &
  local ps=$!
  sleep 1
  assert_ok dh h3 exec c3 weft-mcast recv "$group" "$port" 2 "$(iface_on h3 c3 "${V4[c3.$net]}")"
  echo "$E2E_OUT" >"$f3"
  first="$(awk '/^received/ {print $7}' "$f3")"
  got="$(awk '/^received/ {print $2}' "$f3")"
  log "RESULT $label: late joiner on h3: first datagram ${first} ms after its join, ${got} in 2 s"
  assert_int_le 0 "${first:--1}" "$label: the late joiner on h3 got the group"
  assert_int_le "${first:--1}" 1000 "$label: ms from the late joiner's join to its first datagram"
  wait "$ps" || true
  # It left (its receiver exited): h3 is out of the group's entry, and gets none.
  time_it "$label: h3 out after its leave" wait_until 5 dsts_are h1 "$net" "$mac" "$(haddr h2)"
  before="$(mc_count h3 "$net")"
  assert_ok dh h1 exec sender weft-mcast send "$group" "$port" 500 1000 "$siface"
  sleep 0.3
  after="$(mc_count h3 "$net")"
  assert_eq "$before" "$after" "$label: frames reaching h3 after its last listener left"
  kill "$p2" 2>/dev/null || true
  wait "$p2" 2>/dev/null || true
}
step "multicast pruning, IPv4 239.10.11.12 on wnet: to h2 only, a late joiner on h3, its leave"
prune "IPv4 pruning" wnet 239.10.11.12 01:00:5e:0a:0b:0c 5004
step "multicast pruning, IPv6 ff0e::10:11 on dnet"
prune "IPv6 pruning" dnet ff0e::10:11 33:33:00:10:00:11 5005

# ------------------------------------------------ encrypted network (enet)
# group_hosts HOST NETWORK GROUP : the hosts HOST sends GROUP to on NETWORK
# (weftctl multicast), sorted; hosts_are HOST NETWORK GROUP WANT (wait_until).
group_hosts() {
  local id
  id="$(net_id_on "$1" "$2")"
  weftctl_on "$1" --json multicast |
    jq -r --arg id "$id" --arg g "$3" '.networks | to_entries[] | select(.key == $id) | .value.receivers[$g] // [] | .[]' |
    sort | paste -sd' '
}
hosts_are() {
  local got
  got="$(group_hosts "$1" "$2" "$3")"
  [[ $got == "$4" ]] || { echo "$1: $3 -> '$got', want '$4'"; return 1; }
}
# enc_counter_add HOST : counts the encrypted datagrams longer than 1,000
# bytes arriving at HOST's ENCRYPTED_PORT (in its namespace; gone with the
# bed). enc_count HOST : that count.
enc_counter_add() {
  nsenter --net="$(hvar "$1" NETNS)" nft -f - <<EOF
table inet weft_e2e_enc {
  chain in { type filter hook input priority -300; udp dport 4790 udp length > 1000 counter; }
}
EOF
}
enc_count() {
  nsenter --net="$(hvar "$1" NETNS)" nft list table inet weft_e2e_enc |
    awk '{for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1)}'
}
step "an encrypted network enet on every host; c1..c3 and the sender join it"
for i in 1 2 3; do
  assert_ok dh "h$i" network create -d weft --ipam-driver weft --subnet 10.72.0.0/24 \
    --ip-range "10.72.0.$((64 * i))/26" -o encrypted enet
  assert_ok dh "h$i" network connect enet "c$i"
  V4[c$i.enet]="$(ctr_ip_on "h$i" "c$i" enet)"
done
assert_ok dh h1 network connect enet sender
wait_until 20 pings h1 c1 "${V4[c3.enet]}"
step "encrypted IPv4 multicast 239.1.2.5 on enet: receivers on h1, h2, h3"
ENC_ALL="$(printf '%s\n' "$(haddr h1)" "$(haddr h2)" "$(haddr h3)" | sort | paste -sd' ')"
deliver "encrypted multicast" enet 239.1.2.5 5006 "" "$ENC_ALL"
step "encrypted broadcast to 10.72.0.255 reaches every host"
deliver "encrypted broadcast" enet 10.72.0.255 5007
step "encrypted multicast pruning, 239.10.11.13 on enet: a listener on h2 only, none of its datagrams to h3"
f2="$E2E_BED_PARENT/prune-enc-c2.txt" f3="$E2E_BED_PARENT/prune-enc-c3.txt"
dh h2 exec c2 weft-mcast recv 239.10.11.13 5008 30 "$(iface_on h2 c2 "${V4[c2.enet]}")" >"$f2" 2>&1 &
p2=$!
wait_until 10 grep -q ready "$f2"
time_it "encrypted pruning: h1 sends to h2 only" wait_until 5 hosts_are h1 enet 239.10.11.13 "$(haddr h2)"
for h in h2 h3; do enc_counter_add "$h"; done
siface="$(iface_on h1 sender "$(ctr_ip_on h1 sender enet)")"
assert_ok dh h1 exec sender weft-mcast send 239.10.11.13 5008 500 1000 "$siface" 1200
sleep 0.3
log "RESULT encrypted pruning: datagrams > 1000 B at the encrypted port: h2 $(enc_count h2), h3 $(enc_count h3)"
# The counter must see the group at the listener's host. It counts packets
# at the input hook, which can be fewer than the datagrams (486 and 494 of
# 500 seen: GRO may merge datagrams before the hook, or a busy socket drops
# some); the delivery rate itself is checked above, at 99 %. Merging cannot
# turn h3's datagrams into 0 packets.
assert_int_le 450 "$(enc_count h2)" "encrypted pruning: group datagrams reaching h2 (listener)"
assert_eq 0 "$(enc_count h3)" "encrypted pruning: group datagrams reaching h3 (no listener)"
# The same counter on h3 once a container there listens: its 0 above is no blind spot.
dh h3 exec c3 weft-mcast recv 239.10.11.13 5008 30 "$(iface_on h3 c3 "${V4[c3.enet]}")" >"$f3" 2>&1 &
p3=$!
wait_until 10 grep -q ready "$f3"
wait_until 5 hosts_are h1 enet 239.10.11.13 "$(printf '%s\n' "$(haddr h2)" "$(haddr h3)" | sort | paste -sd' ')"
assert_ok dh h1 exec sender weft-mcast send 239.10.11.13 5008 100 1000 "$siface" 1200
sleep 0.3
log "RESULT encrypted pruning: with a listener on h3 too: h3 $(enc_count h3)"
assert_int_le 90 "$(enc_count h3)" "encrypted: group datagrams reaching h3 once it listens"
kill "$p2" "$p3" 2>/dev/null || true
wait "$p2" "$p3" 2>/dev/null || true

assert_ok weftctl_on h1 multicast
log "weftctl multicast on h1:"$'\n'"$E2E_OUT"

e2e_pass
