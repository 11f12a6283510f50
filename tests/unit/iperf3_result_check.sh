#!/usr/bin/env bash
# bench/docker/iperf3_result.sh: a failed iperf3 -J run is reported with
# iperf3's own error (or its stderr) and never read as a throughput; a good
# run gives its received rate and bytes. The JSON is as iperf3 3.12 writes it.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=../../bench/docker/iperf3_result.sh
source "$REPO/bench/docker/iperf3_result.sh"
fail() { echo "FAIL [iperf3_result_check]: $*" >&2; exit 1; }
command -v jq >/dev/null || fail "needs jq"

# expect WANT_STATUS WANT_OUTPUT RC JSON STDERR
expect() {
  local want_st="$1" want="$2" got st=0
  got="$(iperf3_result "$3" "$4" "$5")" || st=$?
  [[ $st == "$want_st" ]] || fail "status $st, not $want_st, for: $4 / $5 (printed: $got)"
  [[ $got == "$want" ]] || fail "printed \"$got\", not \"$want\""
}

ok='{"start": {"connected": [{"socket": 5}]}, "intervals": [],
  "end": {"sum_sent": {"bytes": 1146880000, "bits_per_second": 9074198432.816114},
          "sum_received": {"bytes": 1146880000, "bits_per_second": 9074198432.816114, "sender": true}}}'
refused='{"start": {"connected": [], "version": "iperf 3.12"}, "intervals": [], "end": {},
  "error": "unable to connect to server: Connection refused"}'
# A run that broke off after it began: partial results AND an error.
broken='{"start": {"connected": [{"socket": 5}]}, "intervals": [{}],
  "end": {"sum_received": {"bytes": 1000, "bits_per_second": 8000}},
  "error": "error - control socket has closed unexpectedly"}'

expect 0 "9074198432.816114 1146880000" 0 "$ok" ""
expect 1 "unable to connect to server: Connection refused" 0 "$refused" ""
expect 1 "unable to connect to server: Connection refused (exit status 1)" 1 "$refused" ""
expect 1 "error - control socket has closed unexpectedly" 0 "$broken" ""
expect 1 "no JSON from iperf3; stderr: Error response from daemon: container cli-enc is not running (exit status 1)" \
  1 "" "Error response from daemon: container cli-enc is not running"
expect 1 "no received sum (.end.sum_received) in iperf3's JSON" 0 '{"end": {}}' ""
expect 1 "iperf3 failed; stderr: killed (exit status 2)" 2 "$ok" $'killed\n'
echo "PASS [iperf3_result_check]" >&2
