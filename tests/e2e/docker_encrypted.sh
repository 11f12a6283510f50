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
# * a host started with another key gets nothing through on the encrypted
#   network in either direction: h2 with a key of its own (no gossip either),
#   then both hosts holding both keys with different first keys (gossip
#   works, the peers are known, the datapaths count auth failures in
#   `weftctl crypto` and in /metrics); back on the cluster key, traffic flows;
# * kill -9 of weft-plugin under an iperf3 TCP stream: the stream survives
#   (both ends exit 0), the receiver's longest run of empty 0.1 s intervals
#   is printed and bounded; the TAP port stays on br0, and the restarted
#   sender's key epochs start past every epoch it reserved before.
# shellcheck disable=SC2154  # TB_* come from the bed's env file
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=weft_lib.sh
source "$E2E_LIB_DIR/weft_lib.sh"
# shellcheck source-path=SCRIPTDIR source=crypto_lib.sh
source "$E2E_LIB_DIR/crypto_lib.sh"

e2e_require_multihost
crypto_require
e2e_bed_up 2

HOSTS=(h1 h2)
A1="$TB_h1_ADDR" A2="$TB_h2_ADDR"
KEY="$(new_cluster_key)"
ENC_PORT=4790
IPERF_SECS=5       # the iperf3 stream across kill -9 of weft-plugin
MAX_KILL_GAP="${WEFT_E2E_MAX_KILL_GAP:-5}" # s the stream may stall across it (measured 0.1-3.1 s)
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

step "the underlay shows a container's marker on the plain network, never on the encrypted one"
plain="$(marker_on_wire h1 pc1 h2 pc2 "${CIP[pc2]}" WEFT-PLAIN-MARKER-5e1d)"
log "plain p1: $plain"
marker_shown "plain p1" "$plain"
enc="$(marker_on_wire h1 ec1 h2 ec2 "${CIP[ec2]}" WEFT-SECRET-MARKER-a93c)"
log "encrypted e1: $enc"
marker_hidden "encrypted e1" "$enc"

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

# ---------------------------------------------------------------- a host with another key
# opened_from HOST PEER_ADDR : packets HOST's datapath authenticated from PEER
# on e1 (0 while it has no session with PEER).
opened_from() { peer_counter "$1" "$2" openedPackets; }
# no_ping_either_way : neither container on e1 gets an answer from the other.
no_ping_either_way() {
  ping_fails_on h1 ec1 "${CIP[ec2]}"
  ping_fails_on h2 ec2 "${CIP[ec1]}"
}
# auth_failed_grows HOST PEER_ADDR N : HOST counted more than N packets from
# PEER that failed authentication (for wait_until).
auth_failed_grows() { (($(peer_counter "$1" "$2" authFailed) > $3)); }
# scrape HOST : HOST's /metrics (weft started with --metrics-addr $METRICS).
METRICS=127.0.0.1:9947
scrape() { nsenter --net="$(hvar "$1" NETNS)" curl -sf --max-time 5 "http://$METRICS/metrics"; }
# metric_auth_failed HOST : weft_encrypted_packets_dropped_total{reason="auth_failed"} of e1.
metric_auth_failed() {
  scrape "$1" | awk '/^weft_encrypted_packets_dropped_total\{/ && /reason="auth_failed"/ {s += $NF} END {print s + 0}'
}

OTHER_KEY="$(new_cluster_key)"
step "h2 restarted with a key of its own: nothing gets through on e1 in either direction"
h1_opened="$(opened_from h1 "$A2")"
assert_ok tb weft-stop h2
weft_start_on h2 "$OTHER_KEY"
no_ping_either_way
assert_eq "$h1_opened" "$(opened_from h1 "$A2")" "packets from h2 that h1 authenticated while h2 had another key"
assert_eq 0 "$(opened_from h2 "$A1")" "packets from h1 that h2 (another key) authenticated"
gossip_refused_h2() { (($(auth_failures h1 "$A2") > 0)) || { echo "h1 counted no gossip auth failure from h2"; return 1; }; }
wait_until 10 gossip_refused_h2
log "h2 (another key) dropped $(crypto_json h2 | jq '.unattributed.unknownSender') datagram(s) to the encrypted port from unknown senders; h1 counted $(auth_failures h1 "$A2") gossip packet(s) from h2 that failed authentication"

step "both hosts hold both keys (gossip works), h2's first key is the other one: e1 carries nothing either way, both datapaths count auth failures (weftctl crypto, metrics)"
assert_ok tb weft-stop h1
weft_start_on h1 "$KEY,$OTHER_KEY" --metrics-addr "$METRICS"
assert_ok tb weft-stop h2
weft_start_on h2 "$OTHER_KEY,$KEY" --metrics-addr "$METRICS"
wait_until 20 converged h1 h2
wait_until 20 has_remote h1 "${CIP[ec2]}"
wait_until 20 has_remote h2 "${CIP[ec1]}"
a1="$(metric_auth_failed h1)" a2="$(metric_auth_failed h2)"
no_ping_either_way
wait_until 5 auth_failed_grows h1 "$A2" 0
wait_until 5 auth_failed_grows h2 "$A1" 0
assert_eq 0 "$(opened_from h1 "$A2")" "packets from h2 (other primary key) that h1 authenticated"
assert_eq 0 "$(opened_from h2 "$A1")" "packets from h1 that h2 (other primary key) authenticated"
m1="$(metric_auth_failed h1)" m2="$(metric_auth_failed h2)"
log "auth failures on e1: h1 $(peer_counter h1 "$A2" authFailed) from h2, h2 $(peer_counter h2 "$A1" authFailed) from h1; weft_encrypted_packets_dropped_total{reason=auth_failed}: h1 $a1 -> $m1, h2 $a2 -> $m2"
((m1 > a1 && m2 > a2)) || fail "the auth_failed metric did not move: h1 $a1 -> $m1, h2 $a2 -> $m2"

step "h2 back on the cluster key: e1 carries traffic both ways again"
assert_ok tb weft-stop h2
weft_start_on h2 "$KEY"
timer_start rekeyed
wait_until 20 pings h1 ec1 "${CIP[ec2]}"
log "ec1 -> ec2 answered $(timer_ms rekeyed) ms after h2 started with the cluster key"
ping_ok_on h1 ec1 "${CIP[ec2]}" 3
ping_ok_on h2 ec2 "${CIP[ec1]}" 3

# ---------------------------------------------------------------- kill -9 under TCP
step "kill -9 of h2's weft-plugin under an iperf3 TCP stream ec1 -> ec2: the stream survives, the gap is measured; the encrypted port stays, key epochs start past the old ones"
epoch_before="$(crypto_json h2 | jq -r .epochStart)"
stream_start kill "$IPERF_SECS" h2 ec2 h1 ec1 "${CIP[ec2]}"
sleep 1.5
timer_start killed
assert_ok tb weft-stop h2 --kill
assert_contains "$(in_sandbox h2 e1 ip -o link show master br0)" "wenc0" "e1's port after kill -9"
weft_start_on h2 "$KEY"
log "h2's weft-plugin answered again $(timer_ms killed) ms after kill -9"
stream_check kill "$IPERF_SECS" "$MAX_KILL_GAP" "ec1 -> ec2 across kill -9 of h2's weft-plugin"
epoch_after="$(crypto_json h2 | jq -r .epochStart)"
log "h2's key epochs: from $epoch_before before, from $epoch_after after the restart"
assert_int_le "$((epoch_before + 65536))" "$epoch_after" "h2's first key epoch after kill -9"
ping_ok_on h2 ec2 "${CIP[ec1]}" 3

e2e_pass
