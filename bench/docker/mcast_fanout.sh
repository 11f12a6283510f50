#!/usr/bin/env bash
# Multicast fan-out cost on the underlay (issue 14): four real dockerd hosts
# on one weft network; a sender on h1, a receiver for 239.1.2.3 on h2 only
# (h3 and h4 each run a container on the network, none listening: 1 of 3
# remote hosts listens). Prints
#
#   * underlay bytes h1 sent per datagram delivered to h2, for COUNT
#     datagrams (weft-mcast's) at 1,000/s, and how many bytes reached each of
#     h3 and h4, which have no listener;
#   * the delivery rate at h2 when h1 sends RATE_COUNT datagrams at
#     10,000/s.
#
# Without multicast pruning (MCAST_PRUNING=false: head-end replication to
# every host of the network) h1 sends each datagram three times; with it
# (the default) once, to h2 only. Brings up its own bed and tears it down.
# ENCRYPTED=true makes the network encrypted (-o encrypted: weft's
# userspace datapath seals each copy and sends it itself; pruning chooses
# its copies the same way).
#
#   bench/docker/mcast_fanout.sh                  (as root; flock /tmp/weft-e2e.lock ...)
#   PRUNING=false bench/docker/mcast_fanout.sh    (the "before")
#   ENCRYPTED=true PRUNING=false|true bench/docker/mcast_fanout.sh
#
# Environment: COUNT (1000), RATE_COUNT (10000), PRUNING (true),
# ENCRYPTED (false), WEFT_BIN (<repo>/build/bin).
# shellcheck disable=SC2154  # TB_* come from the bed's env file
# shellcheck source-path=SCRIPTDIR source=../../tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../tests/e2e/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../../tests/e2e/weft_lib.sh
source "$E2E_LIB_DIR/weft_lib.sh"
count="${COUNT:-1000}"
rate_count="${RATE_COUNT:-10000}"
pruning="${PRUNING:-true}"
[[ $pruning == true || $pruning == false ]] || fail "PRUNING must be true or false"
encrypted="${ENCRYPTED:-false}"
[[ $encrypted == true || $encrypted == false ]] || fail "ENCRYPTED must be true or false"
enc_opt=()
[[ $encrypted == false ]] || enc_opt=(-o encrypted)
e2e_require_multihost
MCAST_BIN="${WEFT_BIN:-$E2E_REPO/build/bin}/weft-mcast"
[[ -x $MCAST_BIN ]] || e2e_skip "no $MCAST_BIN (build it: ninja -C build weft-mcast)"
export TB_IMAGE_BINS="$MCAST_BIN"
say() { echo "# $*" >&2; }

say "bringing up 4 hosts"
e2e_bed_up 4
key="$(new_cluster_key)"
for i in 1 2 3 4; do weft_start_on "h$i" "$key" --mcast-pruning="$pruning"; done
for i in 1 2 3 4; do
  assert_ok dh "h$i" network create -d weft --ipam-driver weft --subnet 10.74.0.0/24 \
    --ip-range "10.74.0.$((64 * (i - 1)))/26" "${enc_opt[@]}" mnet
  run_ctr_on "h$i" "c$i" mnet
done
wait_until 30 converged h1 h2 h3 h4
for i in 2 3 4; do wait_until 20 pings h1 c1 "$(ctr_ip_on "h$i" "c$i" mnet)"; done

# underlay_bytes HOST tx|rx : bytes through HOST's underlay interface.
underlay_bytes() {
  nsenter --net="$(hvar "$1" NETNS)" ip -j -s link show dev eth0 | jq -r ".[0].stats64.$2.bytes"
}
# h1_sends_to_h2_only : h1's VTEP entry for the group lists h2 alone
# (encrypted: h1's datapath sends the group to h2 alone, weftctl multicast).
h1_sends_to_h2_only() {
  if [[ $encrypted == true ]]; then
    [[ "$(weftctl_on h1 --json multicast | jq -r --arg id "$(net_id_on h1 mnet)" \
      '.networks[$id].receivers["239.1.2.3"] // [] | join(" ")')" == "$(haddr h2)" ]]
  else
    [[ "$(sandbox_fdb h1 mnet | awk '$1 == "01:00:5e:01:02:03" {print $2}')" == "$(haddr h2)" ]]
  fi
}
# run_once N INTERVAL_US : h2's c2 receives, c1 sends N datagrams; prints
# "received TX_H1 RX_H3 RX_H4".
run_once() {
  local n="$1" gap="$2" out="$E2E_BED_PARENT/recv.txt" pid t0 r3 r4 got
  dh h2 exec c2 weft-mcast recv 239.1.2.3 5001 $((n * gap / 1000000 + 15)) eth0 "$n" >"$out" 2>&1 &
  pid=$!
  wait_until 10 grep -q ready "$out"
  sleep 1 # the receiver's report reaches h2's bridge (and, pruning, h1's VTEP)
  if [[ $pruning == true ]]; then
    wait_until 5 h1_sends_to_h2_only
  fi
  t0="$(underlay_bytes h1 tx)" r3="$(underlay_bytes h3 rx)" r4="$(underlay_bytes h4 rx)"
  assert_ok dh h1 exec c1 weft-mcast send 239.1.2.3 5001 "$n" "$gap" eth0
  wait "$pid" || true
  got="$(awk '/^received/ {print $2}' "$out")"
  echo "${got:-0} $(($(underlay_bytes h1 tx) - t0)) $(($(underlay_bytes h3 rx) - r3)) $(($(underlay_bytes h4 rx) - r4))"
}

say "fan-out: $count datagrams at 1,000/s"
read -r got tx r3 r4 <<<"$(run_once "$count" 1000)"
say "rate: $rate_count datagrams at 10,000/s"
read -r rgot _ _ _ <<<"$(run_once "$rate_count" 100)"

echo
echo "weft multicast fan-out, 4 hosts, receiver on h2 only (1 of 3 remote hosts listens), MCAST_PRUNING=$pruning, encrypted=$encrypted"
awk -v g="$got" -v n="$count" -v tx="$tx" -v r3="$r3" -v r4="$r4" 'BEGIN {
  printf "delivered at h2                      %d/%d\n", g, n
  printf "underlay bytes h1 sent per delivered %.0f\n", g ? tx / g : 0
  printf "underlay bytes h3 / h4 received      %d / %d (no listener there)\n", r3, r4 }'
awk -v g="$rgot" -v n="$rate_count" 'BEGIN { printf "delivery at 10,000/s                 %d/%d (%.2f %%)\n", g, n, 100 * g / n }'
e2e_pass
