#!/usr/bin/env bash
# Encrypted networks (-o encrypted, issue 11) on two real dockerd hosts joined
# by gossip, on the userspace backend (the only one these machines' kernel
# can run: it has no ESP):
#
# * bad input is refused at creation naming the problem: encrypted=maybe,
#   weft.crypto=foo, weft.crypto=kernel (this kernel has no ESP);
# * containers on an encrypted network ping and move TCP data across hosts;
# * a capture of the underlay while a container sends a marker over TCP
#   shows the marker for a plain network and never for the encrypted one
#   (though the encrypted traffic is there, on ENCRYPTED_PORT);
# * a forged cleartext VXLAN frame for the encrypted network's VNI, injected
#   on the underlay (to the VXLAN port and to the encrypted port), never
#   reaches the container; the same frame for the plain network's VNI does
#   (so the forgery itself is right);
# * a forged packet in weft's wire format and a replayed real one are
#   dropped and counted: `weftctl crypto` shows per network and peer the
#   packets each way, authentication failures and replays;
# * key rotation on request (`weftctl crypto rotate`, on both hosts, three
#   times) under a 10 ms ping loses no reply, and the epochs move on;
# * kill -9 of weft-plugin: the TAP port stays on br0, traffic resumes after
#   the restart, and the restarted sender's key epochs start past every
#   epoch it reserved before (no nonce is ever reused).
# shellcheck disable=SC2154  # TB_* come from the bed's env file
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=weft_lib.sh
source "$E2E_LIB_DIR/weft_lib.sh"

e2e_require_multihost
WIRE_BIN="${WEFT_BIN:-$E2E_REPO/build/bin}/weft-wire"
[[ -x $WIRE_BIN ]] || e2e_skip "no $WIRE_BIN (build it: ninja -C build weft-wire)"
e2e_bed_up 2

HOSTS=(h1 h2)
A1="$TB_h1_ADDR" A2="$TB_h2_ADDR"
KEY="$(new_cluster_key)"
ENC_PORT=4790
UNDERLAY_NETNS="/run/netns/${TB_NS_PREFIX}u"
show_peers_on_failure
# shellcheck disable=SC2016  # expanded when the hook runs
e2e_on_exit eval '((E2E_RC == 0)) || for h in h1 h2; do echo "---- weftctl crypto on $h" >&2; weftctl_on $h crypto >&2; done'

crypto_json() { weftctl_on "$1" --json crypto; }
# peer_counter HOST PEER_ADDR FIELD : a counter of HOST's session with PEER on e1.
peer_counter() {
  crypto_json "$1" | jq -r --arg p "$2" '[.networks[].peers[] | select(.host == $p)][0].'"$3"' // 0'
}
vni_of() { weftctl_on "$1" --json networks | jq -r --arg n "$(net_id_on "$1" "$2")" '.networks[] | select(.id == $n) | .vni'; }
ctr_pid() { dh "$1" inspect -f '{{.State.Pid}}' "$2"; }
# in_ctr_netns HOST CONTAINER CMD... : CMD in the container's network namespace.
in_ctr_netns() {
  local pid
  pid="$(ctr_pid "$1" "$2")"
  shift 2
  nsenter --net="/proc/$pid/ns/net" "$@"
}
declare -A CIP CMAC
# enc_ctr HOST NAME NETWORK : a container on NETWORK; notes its IP and MAC.
enc_ctr() {
  run_ctr_on "$1" "$2" "$3"
  CIP[$2]="$(ctr_ip_on "$1" "$2" "$3")"
  CMAC[$2]="$(ctr_mac_on "$1" "$2" "$3")"
}

step "weft on two hosts; bad encryption options are refused at creation, naming the problem"
for h in "${HOSTS[@]}"; do weft_start_on "$h" "$KEY"; done
wait_until 20 converged h1 h2
assert_fails dh h1 network create -d weft -o encrypted=maybe bad1
assert_contains "$E2E_OUT" 'encrypted="maybe"' "encrypted=maybe"
assert_fails dh h1 network create -d weft -o encrypted -o weft.crypto=foo bad2
assert_contains "$E2E_OUT" 'weft.crypto="foo"' "weft.crypto=foo"
assert_fails dh h1 network create -d weft -o encrypted -o weft.crypto=kernel bad3
assert_contains "$E2E_OUT" "weft.crypto=kernel: this host cannot use the kernel backend" "weft.crypto=kernel"
assert_contains "$E2E_OUT" "no ESP" "weft.crypto=kernel names the missing ESP"
assert_not_contains "$(dh h1 network ls --format '{{.Name}}')" "bad" "networks left by refused creates"

step "a plain network p1 and an encrypted network e1 on both hosts"
for i in 1 2; do
  assert_ok dh "h$i" network create -d weft --ipam-driver weft --subnet 10.41.0.0/24 \
    --ip-range "10.41.0.$((i * 64))/26" p1
  assert_ok dh "h$i" network create -d weft --ipam-driver weft --subnet 10.42.0.0/24 \
    --ip-range "10.42.0.$((i * 64))/26" -o encrypted e1
done
enc_ctr h1 pc1 p1
enc_ctr h2 pc2 p1
enc_ctr h1 ec1 e1
enc_ctr h2 ec2 e1
VNI_E1="$(vni_of h2 e1)" VNI_P1="$(vni_of h2 p1)"
log "p1 vni $VNI_P1, e1 vni $VNI_E1; e1 mtu $(weftctl_on h1 --json networks | jq -r '.networks[] | select(.encrypted) | .mtu')"
assert_eq "" "$(in_sandbox h2 e1 ip -o link show type vxlan)" "VXLAN devices in e1's sandbox (there must be none)"
assert_contains "$(in_sandbox h2 e1 ip -o link show master br0)" "wenc0" "e1's encrypted port on br0"

step "ping and TCP across hosts on the encrypted network"
timer_start reach
wait_until 20 pings h1 ec1 "${CIP[ec2]}"
log "ec1 -> ec2 answered $(timer_ms reach) ms after both containers ran"
ping_ok_on h1 ec1 "${CIP[ec2]}" 5
ping_ok_on h2 ec2 "${CIP[ec1]}" 5
assert_ok dh h2 exec -d ec2 iperf3 -s -1
sleep 0.5
assert_ok dh h1 exec ec1 iperf3 -c "${CIP[ec2]}" -n 20M
assert_contains "$E2E_OUT" "receiver" "iperf3 over e1"
log "iperf3 over e1: $(grep receiver <<<"$E2E_OUT")"

# marker_on_wire HOST_FROM FROM HOST_TO TO MARKER : sends MARKER over TCP
# from container FROM to TO (nc) while the underlay is captured (h2's port
# on the underlay bridge: a bridge device itself sees no forwarded frames); prints the
# capture's "frames N marker M" and checks that TO got the marker.
marker_on_wire() {
  local out="$E2E_BED_PARENT/capture.$5"
  nsenter --net="$UNDERLAY_NETNS" "$WIRE_BIN" capture h2 4 "$5" >"$out" &
  local cap=$!
  wait_until 5 grep -q ready "$out"
  dh "$3" exec -d "$4" sh -c "nc -l -p 7777 > /tmp/got.$5"
  sleep 0.3
  dh "$1" exec "$2" sh -c "echo $5 | nc -w 1 ${CIP[$4]} 7777" || true
  wait "$cap"
  assert_ok dh "$3" exec "$4" grep -q "$5" "/tmp/got.$5"
  tail -n 1 "$out"
}

step "the underlay shows a container's marker on the plain network, never on the encrypted one"
plain="$(marker_on_wire h1 pc1 h2 pc2 WEFT-PLAIN-MARKER-5e1d)"
log "plain p1: $plain"
[[ $plain =~ marker\ ([0-9]+) ]] && ((BASH_REMATCH[1] > 0)) || fail "the plain network's marker did not show on the underlay ($plain): the capture sees nothing"
enc="$(marker_on_wire h1 ec1 h2 ec2 WEFT-SECRET-MARKER-a93c)"
log "encrypted e1: $enc"
[[ $enc =~ frames\ ([0-9]+)\ marker\ ([0-9]+) ]] || fail "capture output: $enc"
((BASH_REMATCH[1] > 0)) || fail "no frames at all on the underlay during the encrypted send"
assert_eq 0 "${BASH_REMATCH[2]}" "frames with the encrypted network's marker on the underlay"

step "forged cleartext VXLAN for the encrypted network's VNI never reaches a container"
# forged_reaches HOST CTR VNI PORT MARKER SRC_CTR : injects from h1's host
# namespace a VXLAN frame to h2:PORT for CTR, captures in CTR's namespace.
forged_count() {
  local out="$E2E_BED_PARENT/forged.$5.$4"
  in_ctr_netns "$1" "$2" "$WIRE_BIN" capture eth0 2 "$5" >"$out" &
  local cap=$!
  wait_until 5 grep -q ready "$out"
  local i
  for i in 1 2 3; do
    nsenter --net="$TB_h1_NETNS" "$WIRE_BIN" vxlan "$A2" "$4" "$3" "${CMAC[$6]}" "${CMAC[$2]}" \
      "${CIP[$6]}" "${CIP[$2]}" 9999 "$5" >/dev/null
  done
  wait "$cap"
  tail -n 1 "$out" | sed 's/.*marker //'
}
n="$(forged_count h2 pc2 "$VNI_P1" 4789 WEFT-FORGED-PLAIN-77 pc1)"
log "forged VXLAN for p1 (vni $VNI_P1) delivered to pc2: $n frame(s)"
((n > 0)) || fail "the forged frame for the plain network never arrived: the forgery itself is wrong"
n="$(forged_count h2 ec2 "$VNI_E1" 4789 WEFT-FORGED-ENC-4789 ec1)"
assert_eq 0 "$n" "forged cleartext VXLAN (port 4789) frames for e1 delivered to ec2"
drops_before="$(crypto_json h2 | jq '.unattributed.badHeader + .unattributed.truncated')"
n="$(forged_count h2 ec2 "$VNI_E1" "$ENC_PORT" WEFT-FORGED-ENC-4790 ec1)"
assert_eq 0 "$n" "forged cleartext VXLAN (port $ENC_PORT) frames for e1 delivered to ec2"
drops_after="$(crypto_json h2 | jq '.unattributed.badHeader + .unattributed.truncated')"
log "h2 dropped $((drops_after - drops_before)) cleartext datagrams on the encrypted port as malformed"
assert_int_le 3 "$((drops_after - drops_before))" "cleartext datagrams on the encrypted port counted as dropped"

step "forged and replayed datapath packets are dropped and counted per peer"
auth_before="$(peer_counter h2 "$A1" authFailed)"
epoch="$(peer_counter h1 "$A2" txEpoch)"
sender="$(printf '%d' "0x$(printf '%02x' ${A1//./ })")"
for s in 1000001 1000002 1000003; do
  assert_ok nsenter --net="$TB_h1_NETNS" "$WIRE_BIN" forge "$A2" "$ENC_PORT" "$VNI_E1" "$sender" "$epoch" "$s"
done
wait_until 5 test "$(peer_counter h2 "$A1" authFailed)" -ge "$((auth_before + 3))"
replay_before="$(peer_counter h2 "$A1" replayed)"
dh h1 exec -d ec1 ping -c 20 -i 0.1 "${CIP[ec2]}"
assert_ok nsenter --net="$TB_h1_NETNS" "$WIRE_BIN" replay eth0 "$A2" "$ENC_PORT" 5
log "$E2E_OUT"
wait_until 5 test "$(peer_counter h2 "$A1" replayed)" -ge "$((replay_before + 1))"
ping_ok_on h1 ec1 "${CIP[ec2]}" 3  # still flowing after the forgeries
log "weftctl crypto on h2:"
weftctl_on h2 crypto >&2
for h in h1 h2; do
  o=$([[ $h == h1 ]] && echo "$A2" || echo "$A1")
  sent="$(peer_counter "$h" "$o" sealedPackets)" got="$(peer_counter "$h" "$o" openedPackets)"
  ((sent > 0 && got > 0)) || fail "$h's counters towards $o: sent $sent, received $got"
done

step "key rotation on both hosts (weftctl crypto rotate) under a 10 ms ping loses no reply"
ep1="$(peer_counter h1 "$A2" txEpoch)" ep2="$(peer_counter h2 "$A1" txEpoch)"
assert_fails weftctl_on h1 crypto spin
dh h1 exec ec1 ping -q -c 300 -i 0.01 "${CIP[ec2]}" >"$E2E_BED_PARENT/rotation-ping" 2>&1 &
ping_pid=$!
sleep 0.7
assert_ok weftctl_on h1 crypto rotate
assert_contains "$E2E_OUT" "rotated" "weftctl crypto rotate on h1"
sleep 0.5
assert_ok weftctl_on h2 crypto rotate
sleep 0.5
assert_ok weftctl_on h1 crypto rotate
wait "$ping_pid" || true
log "$(cat "$E2E_BED_PARENT/rotation-ping")"
assert_contains "$(cat "$E2E_BED_PARENT/rotation-ping")" "300 packets received" "10 ms pings across 3 rotations"
assert_int_le "$((ep1 + 2))" "$(peer_counter h1 "$A2" txEpoch)" "h1's epoch towards h2 after 2 rotations"
assert_int_le "$((ep2 + 1))" "$(peer_counter h2 "$A1" txEpoch)" "h2's epoch towards h1 after 1 rotation"
for h in h1 h2; do
  o=$([[ $h == h1 ]] && echo "$A2" || echo "$A1")
  assert_eq 0 "$(peer_counter "$h" "$o" staleKey)" "$h's stale-key drops across the rotations"
done

step "kill -9 of h2's weft-plugin: the encrypted port stays, traffic resumes, key epochs start past the old ones"
epoch_before="$(crypto_json h2 | jq -r .epochStart)"
assert_ok tb weft-stop h2 --kill
assert_contains "$(in_sandbox h2 e1 ip -o link show master br0)" "wenc0" "e1's port after kill -9"
weft_start_on h2 "$KEY"
timer_start resume
wait_until 30 pings h1 ec1 "${CIP[ec2]}"
log "ec1 -> ec2 answered again $(timer_ms resume) ms after h2's weft-plugin started again"
epoch_after="$(crypto_json h2 | jq -r .epochStart)"
log "h2's key epochs: from $epoch_before before, from $epoch_after after the restart"
assert_int_le "$((epoch_before + 65536))" "$epoch_after" "h2's first key epoch after kill -9"
ping_ok_on h2 ec2 "${CIP[ec1]}" 3

e2e_pass
