#!/usr/bin/env bash
# weft on a real dockerd (one host): networks made with `docker network
# create -d weft` (Docker's IPAM and weft's), containers pinging each other by
# IP and by name, the MTU taken from the underlay (1500 - 50) and -o mtu, a
# container on two weft networks at once, two weft networks with the same
# subnet staying isolated, and outside access: docker_gwbridge (eth1, the
# default route) by default, none on an --internal network or one made with
# -o weft.gwbridge=false, whose containers still reach each other.
# shellcheck disable=SC2154  # TB_h1_* come from the bed's env file
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=weft_lib.sh
source "$E2E_LIB_DIR/weft_lib.sh"

e2e_require_weft
weft_bed_up 1

# ---------------------------------------------------------------- networks
step "docker network create -d weft (Docker's IPAM, weft's IPAM, -o mtu)"
time_it "network create n1" assert_ok dh h1 network create -d weft --subnet 10.10.0.0/24 n1
time_it "network create n2 (weft ipam)" assert_ok dh h1 network create -d weft --ipam-driver weft --subnet 10.20.0.0/24 n2
assert_ok dh h1 network create -d weft --subnet 10.30.0.0/24 -o mtu=1400 n3
assert_eq "weft default" "$(tb_docker h1 network inspect -f '{{.Driver}} {{.IPAM.Driver}}' n1)" "n1 drivers"
assert_eq "weft weft 10.20.0.0/24" "$(tb_docker h1 network inspect -f '{{.Driver}} {{.IPAM.Driver}} {{(index .IPAM.Config 0).Subnet}}' n2)" "n2 drivers"
for n in n1 n2 n3; do
  f="$(netns_on h1 "$n")"
  assert_eq "nsfs" "$(findmnt -rn -o FSTYPE --mountpoint "$f")" "$n: sandbox namespace mounted at $f"
done
assert_eq "1450" "$(in_sandbox h1 n1 ip -o link show br0 | grep -o 'mtu [0-9]*' | cut -d' ' -f2)" "n1 br0 MTU"
assert_eq "1400" "$(in_sandbox h1 n3 ip -o link show br0 | grep -o 'mtu [0-9]*' | cut -d' ' -f2)" "n3 br0 MTU"

# ---------------------------------------------------------------- ping
step "two containers on n1 ping each other by IP and by name"
time_it "docker run (weft network)" run_ctr_on h1 c1 n1
run_ctr_on h1 c2 n1
ip1="$(ctr_ip_on h1 c1 n1)"
ip2="$(ctr_ip_on h1 c2 n1)"
assert_match '^10\.10\.0\.[0-9]+$' "$ip1" "c1's address on n1"
assert_match '^10\.10\.0\.[0-9]+$' "$ip2" "c2's address on n1"
assert_ne "$ip1" "$ip2" "c1 and c2 addresses"
time_it "first ping c1->c2" ping_ok_on h1 c1 "$ip2" 3
ping_ok_on h1 c2 "$ip1" 3
ping_ok_on h1 c1 c2 3
assert_contains "$E2E_OUT" "($ip2)" "name c2 resolves to c2's address"
ping_ok_on h1 c2 c1 3
# The endpoint's veth: host end went into the container, the sandbox end is on br0.
eid="$(ep_id_on h1 c1 n1)"
assert_contains "$(in_sandbox h1 n1 ip -o link show "ws${eid:0:11}")" "master br0" "c1's sandbox veth on br0"
assert_fails host_ip link show "wh${eid:0:11}"

step "MTU: the underlay's 1500 - 50 = 1450 inside the container"
assert_eq "1450" "$(tb_docker h1 exec c1 cat /sys/class/net/eth0/mtu)" "c1 eth0 MTU"
assert_eq "1450" "$(tb_docker h1 exec c2 cat /sys/class/net/eth0/mtu)" "c2 eth0 MTU"
# 1422 bytes of ICMP payload + 28 = 1450: one unfragmented packet; 1423 must
# be fragmented by the container's own stack (so the MTU is exactly 1450 and
# the fragment counter really counts).
f0="$(ip_frag_creates c1)"
assert_ok dh h1 exec c1 ping -c 2 -s 1422 -W 2 "$ip2"
assert_contains "$E2E_OUT" "2 packets received" "1450-byte ping c1 -> c2"
assert_eq "$f0" "$(ip_frag_creates c1)" "a 1450-byte packet was fragmented"
assert_ok dh h1 exec c1 ping -c 2 -s 1423 -W 2 "$ip2"
assert_contains "$E2E_OUT" "2 packets received" "1451-byte ping c1 -> c2 (fragmented)"
f1="$(ip_frag_creates c1)"
(( f1 >= f0 + 4 )) || fail "1451-byte pings were not fragmented (FragCreates $f0 -> $f1): MTU is not 1450"

step "-o mtu=1400"
run_ctr_on h1 c4 n3
assert_eq "1400" "$(tb_docker h1 exec c4 cat /sys/class/net/eth0/mtu)" "c4 eth0 MTU on n3 (-o mtu=1400)"

# ---------------------------------------------------------------- two networks
step "a container on two weft networks at once"
run_ctr_on h1 c3 n2
ip3="$(ctr_ip_on h1 c3 n2)"
assert_match '^10\.20\.0\.[0-9]+$' "$ip3" "c3's address from weft's IPAM"
time_it "network connect" assert_ok dh h1 network connect n2 c1
ip1b="$(ctr_ip_on h1 c1 n2)"
assert_match '^10\.20\.0\.[0-9]+$' "$ip1b" "c1's second address"
assert_ne "$ip3" "$ip1b" "weft IPAM handed out one address twice"
addrs="$(tb_docker h1 exec c1 ip -o -4 addr show)"
assert_contains "$addrs" "$ip1/24" "c1 keeps its n1 address"
assert_contains "$addrs" "$ip1b/24" "c1 has its n2 address"
ping_ok_on h1 c1 "$ip3" 3   # over n2
ping_ok_on h1 c1 c3 3
ping_ok_on h1 c3 "$ip1b" 3
ping_ok_on h1 c1 "$ip2" 3   # still over n1
ping_ok_on h1 c2 "$ip1" 3
step "network disconnect"
assert_ok dh h1 network disconnect n2 c1
eid1b="$(tb_docker h1 inspect -f '{{json .NetworkSettings.Networks}}' c1 | jq -r '.n2.EndpointID // empty')"
assert_empty "$eid1b" "c1 still on n2"
assert_not_contains "$(tb_docker h1 exec c1 ip -o -4 addr show)" "$ip1b/" "c1's n2 address after disconnect"
ping_fails_on h1 c3 "$ip1b"
ping_ok_on h1 c1 "$ip2" 3

# ---------------------------------------------------------------- same subnet
step "two weft networks with the same subnet (distinct -o weft.name) stay isolated"
assert_ok dh h1 network create -d weft --ipam-driver weft --subnet 10.40.0.0/24 -o weft.name=blue na
assert_ok dh h1 network create -d weft --ipam-driver weft --subnet 10.40.0.0/24 -o weft.name=red nb
assert_fails dh h1 network create -d weft --ipam-driver weft --subnet 10.40.0.0/24 -o weft.name=blue nc
assert_contains "$E2E_OUT" "distinct -o weft.name" "a second network named blue: weft's message"
assert_ne "$(netns_on h1 na)" "$(netns_on h1 nb)" "one sandbox each"
vtep_a="$(in_sandbox h1 na ip -o link show type vxlan | awk -F': ' '{print $2}' | sed 's/@.*//')"
vtep_b="$(in_sandbox h1 nb ip -o link show type vxlan | awk -F': ' '{print $2}' | sed 's/@.*//')"
assert_match '^wx-[0-9a-f]{6}$' "$vtep_a" "na's VTEP"
assert_ne "$vtep_a" "$vtep_b" "na and nb share a VNI"
# The same address (10.40.0.11) on both networks, each serving its own name.
# shellcheck disable=SC2016  # $0 is expanded by the container's sh
serve='mkdir -p /w && echo "$0" >/w/index.html && exec httpd -f -p 80 -h /w'
assert_ok dh h1 run -d --name a1 --network na --ip 10.40.0.10 busybox:local sleep 3600
assert_ok dh h1 run -d --name a2 --network na --ip 10.40.0.11 busybox:local sh -c "$serve" a2
assert_ok dh h1 run -d --name b1 --network nb --ip 10.40.0.20 busybox:local sleep 3600
assert_ok dh h1 run -d --name b2 --network nb --ip 10.40.0.11 busybox:local sh -c "$serve" b2
ping_ok_on h1 a1 10.40.0.11 3
ping_ok_on h1 b1 10.40.0.11 3
# (wait_until: httpd may still be starting)
wait_until 10 http_body_is a1 10.40.0.11 a2
assert_eq "a2" "$(http_body a1 10.40.0.11)" "a1 (on na) reaches na's 10.40.0.11"
wait_until 10 http_body_is b1 10.40.0.11 b2
assert_eq "b2" "$(http_body b1 10.40.0.11)" "b1 (on nb) reaches nb's 10.40.0.11"
ping_fails_on h1 a1 10.40.0.20  # b1's address, only on nb
ping_fails_on h1 b1 10.40.0.10  # a1's address, only on na
ping_fails_on h1 a1 "$ip2"      # and nothing of n1
ping_ok_on h1 a1 a2 3

# ---------------------------------------------------------------- gwbridge
step "outside access: docker_gwbridge by default, not with -o weft.gwbridge=false or --internal"
# c1 is on n1 (a default weft network): eth1 on docker_gwbridge, default route there.
assert_contains "$(tb_docker h1 exec c1 ls /sys/class/net)" "eth1" "c1 (on n1) has docker_gwbridge's eth1"
assert_match '^default via [0-9.]+ dev eth1' "$(tb_docker h1 exec c1 ip route | grep '^default')" "c1's default route"
assert_ok dh h1 network create -d weft --subnet 10.70.0.0/24 -o weft.gwbridge=false ng
assert_ok dh h1 network create -d weft --subnet 10.71.0.0/24 --internal ni
assert_eq "none (weft.gwbridge=false)" \
  "$("$WEFTCTL_BIN" --socket "$TB_h1_WEFT_SOCK" networks | awk -v id="$(net_id_on h1 ng | cut -c1-12)" '$1 == id' | grep -o 'none ([a-z.=]*)')" \
  "weftctl networks: ng's outside access"
assert_eq "false false" "$("$WEFTCTL_BIN" --socket "$TB_h1_WEFT_SOCK" --json networks |
  jq -r --arg a "$(net_id_on h1 ng)" --arg b "$(net_id_on h1 ni)" '[.networks[] | select(.id == $a or .id == $b) | .gwbridge] | join(" ")')" \
  "weftctl --json networks: gwbridge of ng and ni"
run_ctr_on h1 g1 ng
run_ctr_on h1 g2 ng
run_ctr_on h1 i1 ni
run_ctr_on h1 i2 ni
# docker_gwbridge's endpoints, by the id of the container they serve
# shellcheck disable=SC2016  # a Go template, not shell
gw_ctrs="$(tb_docker h1 network inspect -f '{{range $id, $c := .Containers}}{{$id}} {{end}}' docker_gwbridge)"
assert_contains "$gw_ctrs" "$(tb_docker h1 inspect -f '{{.Id}}' c1)" "c1's endpoint on docker_gwbridge"
for c in g1 g2 i1 i2; do
  assert_eq "eth0 lo" "$(tb_docker h1 exec "$c" ls /sys/class/net | sort | xargs)" "$c's interfaces (no eth1)"
  assert_empty "$(tb_docker h1 exec "$c" ip route | grep '^default' || true)" "$c's default route"
  assert_not_contains "$gw_ctrs" "$(tb_docker h1 inspect -f '{{.Id}}' "$c")" "$c's endpoint on docker_gwbridge"
done
ping_ok_on h1 g1 "$(ctr_ip_on h1 g2 ng)" 3
ping_ok_on h1 g2 g1 3
ping_ok_on h1 i1 "$(ctr_ip_on h1 i2 ni)" 3
ping_ok_on h1 i2 i1 3
# A container on ng and on n1 gets docker_gwbridge through n1.
assert_ok dh h1 network connect ng c2
ping_ok_on h1 c2 g1 3
assert_contains "$(tb_docker h1 exec c2 ls /sys/class/net)" "eth1" "c2 (n1 + ng) keeps docker_gwbridge"
step "-o weft.gwbridge: bad values and --internal with weft.gwbridge=true are refused"
assert_fails dh h1 network create -d weft --subnet 10.72.0.0/24 -o weft.gwbridge=maybe nx
assert_contains "$E2E_OUT" 'option weft.gwbridge="maybe"' "weft.gwbridge=maybe"
assert_fails dh h1 network create -d weft --subnet 10.72.0.0/24 --internal -o weft.gwbridge=true nx
assert_contains "$E2E_OUT" "contradicts --internal" "--internal with weft.gwbridge=true"
assert_fails tb_docker h1 network inspect nx

e2e_pass
