#!/usr/bin/env bash
# weft on a real dockerd with a jumbo-frame underlay (TB_MTU=9000): a new
# network gets 9000 - 50 = 8950, containers on it exchange 8000-byte pings
# without fragmenting them, -o mtu=1400 (and Docker's own
# com.docker.network.driver.mtu) still win, and more than 8950 is refused.
# shellcheck disable=SC2154  # TB_h1_* come from the bed's env file
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=weft_lib.sh
source "$E2E_LIB_DIR/weft_lib.sh"

e2e_require_weft
export TB_MTU=9000
weft_bed_up 1
assert_contains "$(host_ip -o link show dev eth0)" "mtu 9000" "h1's underlay MTU"

step "a network on a 9000-byte underlay gets 8950"
assert_ok dh h1 network create -d weft --ipam-driver weft --subnet 10.10.0.0/24 j1
assert_eq "8950" "$(in_sandbox h1 j1 ip -o link show br0 | grep -o 'mtu [0-9]*' | cut -d' ' -f2)" "j1 br0 MTU"
run_ctr_on h1 c1 j1
run_ctr_on h1 c2 j1
assert_eq "8950" "$(tb_docker h1 exec c1 cat /sys/class/net/eth0/mtu)" "c1 eth0 MTU"
assert_eq "8950" "$(tb_docker h1 exec c2 cat /sys/class/net/eth0/mtu)" "c2 eth0 MTU"
eid="$(ep_id_on h1 c1 j1)"
assert_contains "$(in_sandbox h1 j1 ip -o link show "ws${eid:0:11}")" "mtu 8950" "c1's sandbox veth MTU"
vtep="$(in_sandbox h1 j1 ip -o link show type vxlan)"
assert_contains "$vtep" "mtu 8950" "VTEP MTU"

step "8000-byte pings, not fragmented"
# busybox ping has no -M do; the container's IP FragCreates counter tells
# whether its stack had to fragment instead.
ip2="$(ctr_ip_on h1 c2 j1)"
f0="$(ip_frag_creates c1)"
assert_ok dh h1 exec c1 ping -c 3 -i 0.2 -s 8000 -W 2 "$ip2"
assert_contains "$E2E_OUT" "3 packets received" "8000-byte ping c1 -> c2"
assert_contains "$E2E_OUT" "8008 bytes from $ip2" "8000-byte replies"
assert_ok dh h1 exec c1 ping -c 2 -s 8922 -W 2 "$ip2" # 8922 + 28 = 8950
assert_contains "$E2E_OUT" "2 packets received" "8950-byte ping c1 -> c2"
assert_eq "$f0" "$(ip_frag_creates c1)" "jumbo pings were fragmented"
assert_ok dh h1 exec c1 ping -c 2 -s 8923 -W 2 "$ip2" # one byte more: fragments
assert_contains "$E2E_OUT" "2 packets received" "8951-byte ping c1 -> c2"
f1="$(ip_frag_creates c1)"
((f1 >= f0 + 4)) || fail "8951-byte pings were not fragmented (FragCreates $f0 -> $f1): MTU is not 8950"

step "-o mtu=1400 and com.docker.network.driver.mtu=1400 win over the underlay"
assert_ok dh h1 network create -d weft --subnet 10.20.0.0/24 -o mtu=1400 j2
run_ctr_on h1 c3 j2
assert_eq "1400" "$(tb_docker h1 exec c3 cat /sys/class/net/eth0/mtu)" "c3 eth0 MTU (-o mtu=1400)"
assert_ok dh h1 network create -d weft --subnet 10.30.0.0/24 -o com.docker.network.driver.mtu=1400 j3
assert_eq "1400" "$(in_sandbox h1 j3 ip -o link show br0 | grep -o 'mtu [0-9]*' | cut -d' ' -f2)" "j3 br0 MTU"

step "more than the underlay can carry is refused"
assert_fails dh h1 network create -d weft --subnet 10.40.0.0/24 -o mtu=8951 j4
assert_contains "$E2E_OUT" "the most is 8950" "mtu 8951"
assert_ok dh h1 network create -d weft --subnet 10.40.0.0/24 -o mtu=8950 j4

e2e_pass
