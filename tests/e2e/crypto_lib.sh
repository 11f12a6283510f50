# shellcheck shell=bash
# Helpers shared by the end-to-end tests of encrypted networks
# (docker_encrypted.sh standalone, managed_plugin.sh in swarm). Source after
# lib.sh and weft_lib.sh; call crypto_require before e2e_bed_up.
# Variables such as TB_NS_PREFIX come from the bed's env file:
# shellcheck disable=SC2154

WIRE_BIN="${WEFT_BIN:-$E2E_REPO/build/bin}/weft-wire"

# crypto_require : skips unless weft-wire (captures, forged frames) is built.
crypto_require() {
  [[ -x $WIRE_BIN ]] || e2e_skip "no $WIRE_BIN (build it: ninja -C build weft-wire)"
}

# listens HOST CTR PORT : a TCP socket listens on PORT in CTR (for wait_until).
listens() { dh "$1" exec "$2" sh -c "netstat -ltn | grep -q ':$3 '"; }

# marker_on_wire HOST_FROM FROM HOST_TO TO TO_IP MARKER : sends MARKER over
# TCP from container FROM to TO (at TO_IP, nc) while the underlay is captured
# at HOST_TO's port on the underlay bridge (the bridge device itself sees no
# forwarded frames); prints the capture's "frames N marker M" and checks
# that TO got the marker.
marker_on_wire() {
  local out="$E2E_BED_PARENT/capture.$6" cap
  nsenter --net="/run/netns/${TB_NS_PREFIX}u" "$WIRE_BIN" capture "$3" 4 "$6" >"$out" &
  cap=$!
  wait_until 5 grep -q ready "$out"
  dh "$3" exec -d "$4" sh -c "nc -l -p 7777 > /tmp/got.$6"
  wait_until 5 listens "$3" "$4" 7777
  dh "$1" exec "$2" sh -c "echo $6 | nc -w 1 $5 7777" || true
  wait "$cap"
  assert_ok dh "$3" exec "$4" grep -q "$6" "/tmp/got.$6"
  tail -n 1 "$out"
}
# marker_shown LABEL CAPTURE : the plain network's capture saw the marker.
marker_shown() {
  [[ $2 =~ marker\ ([0-9]+) ]] && ((BASH_REMATCH[1] > 0)) ||
    fail "$1: the marker did not show on the underlay ($2): the capture sees nothing"
}
# marker_hidden LABEL CAPTURE : the encrypted network's capture saw frames,
# none with the marker.
marker_hidden() {
  [[ $2 =~ frames\ ([0-9]+)\ marker\ ([0-9]+) ]] || fail "capture output: $2"
  ((BASH_REMATCH[1] > 0)) || fail "$1: no frames at all on the underlay during the encrypted send"
  assert_eq 0 "${BASH_REMATCH[2]}" "$1: frames with the encrypted network's marker on the underlay"
}

# zero_gap FILE : from iperf3's JSON (-i 0.1) in FILE: "INTERVALS ZERO_RUN
# FIRST_ZERO_START BYTES" -- how many intervals, the longest run of
# consecutive intervals that moved no byte (seconds), when it began, and
# the bytes the receiver got in all.
zero_gap() {
  jq -r '[.intervals[].sum] as $i
    | reduce $i[] as $x ({run: 0, best: 0, at: -1, start: 0};
        if $x.bytes == 0 then (if .run == 0 then .start = $x.start else . end) | .run += ($x.end - $x.start)
          | (if .run > .best then .best = .run | .at = .start else . end)
        else .run = 0 end)
    | "\($i | length) \(.best * 1000 | round / 1000) \(.at * 1000 | round / 1000) \($i | map(.bytes) | add)"' "$1"
}

# stream_start NAME SECS HOST_SRV SRV HOST_CLI CLI SRV_IP [iperf3 client args...] :
# an iperf3 TCP stream of SECS seconds from container CLI to SRV (at SRV_IP),
# 0.1 s intervals, JSON in $E2E_BED_PARENT/iperf3-NAME.{server,client}.json;
# returns once it runs (collect it with stream_check).
declare -A STREAM_SRV STREAM_CLI
stream_start() {
  local name="$1" secs="$2" hs="$3" srv="$4" hc="$5" cli="$6" ip="$7"
  shift 7
  dh "$hs" exec "$srv" iperf3 -s -1 -i 0.1 -J >"$E2E_BED_PARENT/iperf3-$name.server.json" 2>&1 &
  STREAM_SRV[$name]=$!
  wait_until 5 listens "$hs" "$srv" 5201
  dh "$hc" exec "$cli" iperf3 -c "$ip" -t "$secs" -i 0.1 -J "$@" >"$E2E_BED_PARENT/iperf3-$name.client.json" 2>&1 &
  STREAM_CLI[$name]=$!
}
# stream_check NAME SECS MAX_GAP LABEL : waits for the stream; it must have
# survived (both ends exit 0, no reset), carried data in its last second,
# and stalled at most MAX_GAP s (the receiver's longest run of empty 0.1 s
# intervals, printed as a RESULT line and in $E2E_TIMINGS if set).
stream_check() {
  local name="$1" secs="$2" max="$3" label="$4" cli_rc=0 srv_rc=0 n_int gap gap_at got
  local srv_out="$E2E_BED_PARENT/iperf3-$name.server.json" cli_out="$E2E_BED_PARENT/iperf3-$name.client.json"
  wait "${STREAM_CLI[$name]}" || cli_rc=$?
  wait "${STREAM_SRV[$name]}" || srv_rc=$?
  ((cli_rc == 0 && srv_rc == 0)) || fail "iperf3 $label: client exit $cli_rc, server exit $srv_rc"$'\n'"$(jq -r '.error // empty' "$cli_out" "$srv_out" 2>&1 | head -n 5)"
  read -r n_int gap gap_at got < <(zero_gap "$srv_out")
  log "RESULT iperf3 TCP $label: $(jq -r '.end.sum_received.bits_per_second / 1e6 | floor' "$cli_out") Mbit/s over ${secs} s ($got bytes), receiver's longest run of empty 0.1 s intervals ${gap} s (from t=${gap_at} s), retransmits $(jq -r '.end.sum_sent.retransmits' "$cli_out")"
  if [[ -n ${E2E_TIMINGS:-} ]]; then echo "iperf3 $label longest_gap_s=$gap" >>"$E2E_TIMINGS"; fi
  ((n_int >= secs * 10 - 1)) || fail "iperf3's server reported $n_int intervals, expected about $((secs * 10))"
  awk -v g="$gap" -v max="$max" 'BEGIN {exit !(g <= max)}' || fail "the TCP stream stalled ${gap} s $label (at most ${max} s allowed)"
  # The stream carried data at its end too: the last second moved bytes.
  assert_ne 0 "$(jq '[.intervals[-10:][].sum.bytes] | add' "$srv_out")" "bytes received in the stream's last second"
}
