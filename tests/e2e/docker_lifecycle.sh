#!/usr/bin/env bash
# weft on a real dockerd (one host): bad input through Docker is refused with
# weft's own message and leaves nothing behind; a network with a running
# container cannot be removed; `docker rm` of a container removes its veth;
# `docker network rm` removes the sandbox namespace (file and mount), the
# VTEP, every veth, and weft's record of it -- the host ends as it started.
# shellcheck disable=SC2154  # TB_h1_* come from the bed's env file
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=weft_lib.sh
source "$E2E_LIB_DIR/weft_lib.sh"

e2e_require_weft
weft_bed_up 1

# (docker_gwbridge is Docker's: it appears with the first container on a
# network without a gateway service and stays.)
links() { host_links | grep -vx docker_gwbridge; }
links_before="$(links)"
state_networks() { jq -r '.networks | length' "$TB_h1_WEFT_STATE/state.json"; }
state_endpoints() { jq -r '.endpoints | length' "$TB_h1_WEFT_STATE/state.json"; }

# ---------------------------------------------------------------- bad input
step "bad input through Docker is refused with weft's message"
assert_fails dh h1 network create -d weft -o colour=red x
assert_contains "$E2E_OUT" 'unknown option "colour"' "unknown option"
assert_fails dh h1 network create -d weft -o vni=5000 x
assert_contains "$E2E_OUT" 'option vni="5000"' "vni 5000"
assert_contains "$E2E_OUT" "4095" "vni range named"
assert_fails dh h1 network create -d weft -o vni=0 x
assert_contains "$E2E_OUT" 'option vni="0"' "vni 0"
assert_fails dh h1 network create -d weft --subnet 10.60.0.0/24 -o mtu=9000 x
assert_contains "$E2E_OUT" "the most is 1450" "mtu above the underlay's"
assert_fails dh h1 network create -d weft -o mtu=100 x
assert_contains "$E2E_OUT" "option mtu=" "mtu too small"
assert_fails dh h1 network create -d weft -o encrypted=maybe x
assert_contains "$E2E_OUT" "encrypted" "encrypted=maybe"
assert_empty "$(tb_docker h1 network ls -q --filter driver=weft)" "a refused network exists in Docker"
assert_eq "0" "$(state_networks)" "a refused network is in weft's state"
assert_empty "$(weft_leftovers)" "a refused network left kernel objects"

step "two unnamed weft networks with one subnet: refused, naming weft.name"
assert_ok dh h1 network create -d weft --ipam-driver weft --subnet 10.50.0.0/24 s1
assert_fails dh h1 network create -d weft --ipam-driver weft --subnet 10.50.0.0/24 s2
assert_contains "$E2E_OUT" "distinct -o weft.name" "same subnet, no name"
assert_ok dh h1 network create -d weft --ipam-driver weft --subnet 10.50.0.0/24 -o weft.name=s2 s2
assert_ok dh h1 network rm s1 s2

step "-o vni=100: the VTEP is wx-000064; a second network cannot take VNI 100"
assert_ok dh h1 network create -d weft --subnet 10.10.0.0/24 -o vni=100 n1
assert_ok in_sandbox h1 n1 ip -d -o link show wx-000064
assert_contains "$E2E_OUT" "vxlan id 100 " "VTEP's VNI"
assert_contains "$E2E_OUT" "master br0" "VTEP on br0"
assert_fails dh h1 network create -d weft --subnet 10.11.0.0/24 -o vni=100 n1b
assert_contains "$E2E_OUT" "VNI 100 is already used" "VNI clash"

# ---------------------------------------------------------------- rm refused
step "network rm with a running container is refused"
run_ctr_on h1 c1 n1
run_ctr_on h1 c2 n1 --ip 10.10.0.77
assert_fails dh h1 network rm n1
assert_contains "$E2E_OUT" "active endpoints" "docker's refusal"
nsf="$(netns_on h1 n1)"
assert_ok test -e "$nsf"
ping_ok_on h1 c1 10.10.0.77 3
assert_eq "2" "$(state_endpoints)" "endpoints in weft's state"

step "docker rm of a container: its veth and endpoint go"
eid2="$(ep_id_on h1 c2 n1)"
assert_ok in_sandbox h1 n1 ip link show "ws${eid2:0:11}"
time_it "docker rm -f (weft network)" assert_ok dh h1 rm -f c2
assert_fails in_sandbox h1 n1 ip link show "ws${eid2:0:11}"
assert_fails host_ip link show "wh${eid2:0:11}"
assert_eq "1" "$(state_endpoints)" "endpoints in weft's state after rm"
# The address is free again.
run_ctr_on h1 c3 n1 --ip 10.10.0.77
ping_ok_on h1 c1 10.10.0.77 3

# ---------------------------------------------------------------- rm clean
step "network rm leaves nothing behind"
assert_ok dh h1 network create -d weft --ipam-driver weft --subnet 10.20.0.0/24 -o mtu=1400 n2
assert_ok dh h1 network connect n2 c1
ping_ok_on h1 c1 10.10.0.77 3
assert_ne "" "$(weft_leftovers)" "weft_leftovers sees a live network's objects"
assert_ok dh h1 rm -f c1 c3
assert_ok dh h1 network rm n1 n2
assert_empty "$(weft_leftovers)" "left after network rm"
assert_fails test -e "$nsf"
assert_eq "$links_before" "$(links)" "links of h1's network namespace"
assert_eq "0" "$(state_networks)" "networks in weft's state"
assert_eq "0" "$(state_endpoints)" "endpoints in weft's state"
assert_eq "0" "$(jq -r '.ipam.pools | length' "$TB_h1_WEFT_STATE/state.json")" "weft IPAM pools after rm"
assert_empty "$(tb_docker h1 network ls -q --filter driver=weft)" "weft networks in Docker"

step "the same names and subnet again, after rm"
assert_ok dh h1 network create -d weft --ipam-driver weft --subnet 10.20.0.0/24 n2
run_ctr_on h1 c4 n2
run_ctr_on h1 c5 n2
ping_ok_on h1 c4 c5 3
assert_ok dh h1 rm -f c4 c5
assert_ok dh h1 network rm n2
assert_empty "$(weft_leftovers)" "left after the second network rm"
assert_eq "$links_before" "$(links)" "links of h1's network namespace"

e2e_pass
