#!/usr/bin/env bash
# iperf3_result RC JSON STDERR : the outcome of one `iperf3 -J` run from its
# exit status, its JSON (stdout) and its stderr. A run that worked prints
# "BITS_PER_SECOND BYTES" (received, summed over the streams) and returns 0.
# A failed run prints why and returns 1: iperf3's "error" field (iperf3 3.12
# exits 0 with -J even when it could not connect; the error is only in the
# JSON), else its stderr (e.g. docker exec's own error), else what is
# missing. Sourced by bench/docker/encrypted_throughput.sh; checked by
# tests/unit/iperf3_result_check.sh.
iperf3_result() {
  local rc="$1" json="$2" err="$3" why="" res=""
  if ! jq -en 'input | type == "object"' >/dev/null 2>&1 <<<"$json"; then
    why="no JSON from iperf3"
  else
    why="$(jq -r '.error // empty | tostring' <<<"$json")"
    res="$(jq -r '.end.sum_received | select(type == "object")
      | select((.bits_per_second | type) == "number" and (.bytes | type) == "number")
      | "\(.bits_per_second) \(.bytes)"' <<<"$json")"
    [[ -n $why || -n $res ]] || why="no received sum (.end.sum_received) in iperf3's JSON"
  fi
  local status=""
  ((rc == 0)) || status=" (exit status $rc)"
  if [[ -z $why && -n $status ]]; then why="iperf3 failed" ; fi
  if [[ -n $why ]]; then
    err="$(tr -s '\n' ' ' <<<"$err" | sed 's/ *$//')"
    if [[ -n $err && $err != "$why" ]]; then why="$why; stderr: $err"; fi
    why="$why$status"
    echo "$why"
    return 1
  fi
  echo "$res"
}
