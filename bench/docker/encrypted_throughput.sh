#!/usr/bin/env bash
# TCP throughput between containers on two test-bed hosts: a plain weft
# network versus an encrypted one (-o encrypted, the userspace datapath) in
# the same run on the same bed, 1 and 4 streams (iperf3 -P), printed side by
# side with the CPU time weft-plugin spent (both hosts) per GB moved and the
# machine's CPU time per GB (from /proc/stat: everything on the machine, so
# noisy on a shared one), and how long weft-plugin's threads waited for a CPU
# per second of the run (run-queue delay; the load on the machine, `uptime`,
# is printed first and last). A run that fails (iperf3's "error", or no
# result) is printed with iperf3's error, left out of the means and counted
# in the table's "failed" column; the script then exits 1. Brings up its own
# bed and tears it down. Not a test.
#
#   bench/docker/encrypted_throughput.sh        (as root)
#        (RUNS=2, SECONDS_PER_RUN=8, TB_MTU=1500; TB_MTU=9000 for jumbo)
# shellcheck disable=SC2154  # TB_h1_ADDR and friends: the bed's env file
# shellcheck source-path=SCRIPTDIR source=../../tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../tests/e2e/lib.sh"
# shellcheck source=../../tests/e2e/weft_lib.sh
source "$E2E_LIB_DIR/weft_lib.sh"
# shellcheck source=iperf3_result.sh
source "$(dirname "${BASH_SOURCE[0]}")/iperf3_result.sh"
runs="${RUNS:-2}"
secs="${SECONDS_PER_RUN:-8}"
e2e_require_multihost
say() { echo "# $*" >&2; }
d() { tb_docker "$@"; }

say "bringing up 2 hosts (underlay MTU ${TB_MTU:-1500}); load: $(uptime)"
e2e_bed_up 2
key="$(new_cluster_key)"
for i in 1 2; do weft_start_on "h$i" "$key"; done
for i in 1 2; do
  d "h$i" network create -d weft --ipam-driver weft --subnet 10.50.0.0/16 --ip-range "10.50.$i.0/24" plain >/dev/null
  d "h$i" network create -d weft --ipam-driver weft --subnet 10.51.0.0/16 --ip-range "10.51.$i.0/24" \
    -o encrypted enc >/dev/null
done
declare -A server_ip
for net in plain enc; do
  d h2 run -d --name "srv-$net" --network "$net" --tmpfs /tmp busybox:local iperf3 -s >/dev/null
  d h1 run -d --name "cli-$net" --network "$net" --tmpfs /tmp busybox:local sleep 3600 >/dev/null
  server_ip[$net]="$(ctr_ip_on h2 "srv-$net" "$net")"
  wait_until 20 pings h1 "cli-$net" "${server_ip[$net]}" >/dev/null
done
mtu_of() { weftctl_on h1 --json networks | jq -r --arg n "$(net_id_on h1 "$1")" '.networks[] | select(.id == $n) | .mtu'; }

# CPU ticks (utime + stime) of a pid; of the whole machine (all but idle/iowait).
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
hz="$(getconf CLK_TCK)"
pids=("$(weft_pid_on h1)" "$(weft_pid_on h2)")
plugin_ticks() { local t=0 p; for p in "${pids[@]}"; do t=$((t + $(proc_ticks "$p"))); done; echo "$t"; }
# Nanoseconds weft-plugin's threads (both hosts) spent waiting on a run
# queue for a CPU (schedstat's second field): on a loaded machine the
# userspace datapath competes for CPU time that the plain path, all in
# softirq, does not have to ask for.
plugin_wait_ns() {
  local p
  for p in "${pids[@]}"; do cat /proc/"$p"/task/*/schedstat 2>/dev/null; done | awk '{s += $2} END {printf "%.0f", s}'
}

declare -A sum_bps sum_bytes sum_ptick sum_mtick sum_wait ok_runs failed_runs
failures=0
iperf_err="$(mktemp)"
e2e_on_exit rm -f "$iperf_err"
for ((r = 1; r <= runs; r++)); do
  for streams in 1 4; do
    for net in plain enc; do
      k="$net.$streams"
      p0=$(plugin_ticks) m0=$(machine_ticks) w0=$(plugin_wait_ns)
      rc=0
      out="$(d h1 exec "cli-$net" iperf3 -c "${server_ip[$net]}" -t "$secs" -P "$streams" -J 2>"$iperf_err")" || rc=$?
      p1=$(plugin_ticks) m1=$(machine_ticks) w1=$(plugin_wait_ns)
      if ! res="$(iperf3_result "$rc" "$out" "$(<"$iperf_err")")"; then
        failed_runs[$k]=$((${failed_runs[$k]:-0} + 1))
        failures=$((failures + 1))
        say "run $r, $streams stream(s), $net: FAILED (left out of the means): $res"
        continue
      fi
      read -r bps bytes <<<"$res"
      say "run $r, $streams stream(s), $net: $(awk -v b="$bps" 'BEGIN {printf "%.0f Mbit/s", b / 1e6}')"
      ok_runs[$k]=$((${ok_runs[$k]:-0} + 1))
      sum_bps[$k]=$(awk -v a="${sum_bps[$k]:-0}" -v b="$bps" 'BEGIN {print a + b}')
      sum_bytes[$k]=$(awk -v a="${sum_bytes[$k]:-0}" -v b="$bytes" 'BEGIN {print a + b}')
      sum_ptick[$k]=$((${sum_ptick[$k]:-0} + p1 - p0))
      sum_mtick[$k]=$((${sum_mtick[$k]:-0} + m1 - m0))
      sum_wait[$k]=$((${sum_wait[$k]:-0} + w1 - w0))
    done
  done
done

echo
echo "weft plain vs encrypted (userspace datapath), underlay MTU ${TB_MTU:-1500}, container MTU plain $(mtu_of plain) / encrypted $(mtu_of enc); iperf3 TCP h1 -> h2, ${secs} s x ${runs} runs, mean of the runs that worked"
printf '%-10s %-8s %7s %14s %22s %22s %20s\n' network streams failed Mbit/s "weft-plugin CPU s/GB" \
  "machine CPU s/GB" "plugin CPU-wait s/s"
for streams in 1 4; do
  for net in plain enc; do
    k="$net.$streams"
    if ((${ok_runs[$k]:-0} == 0)); then
      printf '%-10s %-8s %7s %14s %22s %22s %20s\n' "$net" "$streams" "${failed_runs[$k]:-0}" - - - -
      continue
    fi
    awk -v n="$net" -v s="$streams" -v f="${failed_runs[$k]:-0}" -v bps="${sum_bps[$k]}" -v bytes="${sum_bytes[$k]}" \
      -v runs="${ok_runs[$k]}" -v pt="${sum_ptick[$k]}" -v mt="${sum_mtick[$k]}" -v hz="$hz" -v w="${sum_wait[$k]}" \
      -v secs="$secs" \
      'BEGIN {gb = bytes / 1e9; printf "%-10s %-8s %7d %14.0f %22.2f %22.2f %20.2f\n", n, s, f, bps / runs / 1e6, pt / hz / gb, mt / hz / gb, w / 1e9 / (secs * runs)}'
  done
  if ((${ok_runs[enc.$streams]:-0} && ${ok_runs[plain.$streams]:-0})); then
    awk -v e="${sum_bps[enc.$streams]}" -v ne="${ok_runs[enc.$streams]}" -v p="${sum_bps[plain.$streams]}" \
      -v np="${ok_runs[plain.$streams]}" -v s="$streams" \
      'BEGIN {printf "encrypted / plain, %s stream(s): %.2f\n", s, (e / ne) / (p / np)}'
  else
    echo "encrypted / plain, $streams stream(s): - (no run of one of them worked)"
  fi
done
echo "load at the end: $(uptime)"
# Where the userspace datapath lost frames (a send buffer or TAP queue that
# overflowed shows here, and TCP then backs off).
for h in h1 h2; do
  echo "$h datapath I/O: $(weftctl_on "$h" --json crypto | jq -c .io)"
done
if ((failures)); then
  echo "FAILED: $failures of $((runs * 4)) iperf3 runs (their errors are above)" >&2
  exit 1
fi
