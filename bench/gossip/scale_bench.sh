#!/usr/bin/env bash
# Real processes at scale: N weft-plugin (--fake-kernel) + weft-gossip pairs on
# this machine, on loopback addresses 127.0.1.1..N, next to the simulator at
# the same N with weft-gossip's own settings.
#   bench/gossip/scale_bench.sh [--nodes N] [--probes K] [--idle S] [--watch S] [--port P]
# Prints, for the real cluster: convergence of a new endpoint to every node
# (p50/p99/max over K probes), failure detection after kill -9 of one pair,
# suspicions/deaths seen while nothing failed, RSS and CPU per node; then the
# simulator's numbers and both side by side. Not part of the test suite.
# Every process it starts is killed by pid when it ends (also on Ctrl-C), and
# its temporary directory is removed. Run as root (the sidecars drop to their
# own uid) or as any user (then they keep it).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
nodes=50
args=()
while (($#)); do
  case $1 in
    --nodes) nodes=$2; args+=("$1" "$2"); shift 2 ;;
    --probes | --idle | --watch | --port) args+=("$1" "$2"); shift 2 ;;
    *) echo "usage: $0 [--nodes N] [--probes K] [--idle S] [--watch S] [--port P]" >&2; exit 2 ;;
  esac
done
[[ $nodes =~ ^[0-9]+$ ]] && ((nodes >= 3 && nodes <= 250)) || { echo "--nodes must be 3-250" >&2; exit 2; }

build="${WEFT_BUILD_DIR:-$here/build}"
if [[ ! -f $build/build.ninja ]]; then
  cmake -G Ninja -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$build" weft-plugin weft-gossip weft-gossip-scale-bench weft-gossip-sim-bench >/dev/null

tmp="$(mktemp -d /tmp/weft-scale-XXXXXX)"
bench_pid=""
cleanup() {
  # The bench kills its plugins on SIGTERM (and they die with it anyway:
  # PR_SET_PDEATHSIG); their sidecars die with them.
  if [[ -n $bench_pid ]] && kill -0 "$bench_pid" 2>/dev/null; then
    kill -TERM "$bench_pid" 2>/dev/null || true
    wait "$bench_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

real="$tmp/real.txt"
"$build/bin/weft-gossip-scale-bench" --bin "$build/bin" --dir "$tmp" "${args[@]}" > >(tee "$real") &
bench_pid=$! # the bench's own pid (tee runs in a process substitution)
status=0
wait "$bench_pid" || status=$?
bench_pid=""
if ((status != 0)); then
  echo "scale bench failed (exit $status); the nodes' logs were in $tmp" >&2
  for f in "$tmp"/node*/weft.log; do [[ -s $f ]] && { echo "--- $f" >&2; tail -5 "$f" >&2; }; done
  exit "$status"
fi
sleep 0.2 # tee's last lines
left="$(pgrep -f -- "weft-plugin .*$tmp/" || true)"
[[ -z $left ]] || { echo "processes left behind: $left" >&2; exit 1; }

echo
echo "=== simulator, N=$nodes, weft-gossip's settings (virtual time) ==="
sim="$tmp/sim.txt"
"$build/bin/weft-gossip-sim-bench" --nodes="$nodes" --only=1234 | tee "$sim"

# Side by side: the real cluster's RESULT lines and the simulator's lines.
r() { awk -v k="$1" '$1 == "RESULT" && $2 == k {print $3}' "$real"; }
sim_conv="$(grep -m1 'loss= 0%' "$sim" || true)"
sim_p100_median="$(sed -n 's/.*100%: median *\([0-9.]*\) ms, max *\([0-9.]*\) ms.*/\1/p' <<<"$sim_conv")"
sim_p100_max="$(sed -n 's/.*100%: median *\([0-9.]*\) ms, max *\([0-9.]*\) ms.*/\2/p' <<<"$sim_conv")"
sim_det="$(grep -m1 'crashes' "$sim" || true)"
sim_first="$(sed -n 's/.*after median \([0-9]*\) ms.*/\1/p' <<<"$sim_det")"
sim_all="$(sed -n 's/.*every node: median \([0-9]*\) ms, max \([0-9]*\) ms.*/\1 (max \2)/p' <<<"$sim_det")"
sim_bw="$(sed -n 's/.*idle, loss 0%: \([0-9]*\) B\/s.*/\1/p' "$sim" | head -1)"
sim_false="$(sed -n 's/.*node-minutes: \([0-9]*\) false dead declarations (target 0); \([0-9]*\) suspicions raised.*/\2 raised \/ \1/p' "$sim" | head -1)"
echo
echo "=== side by side, N=$nodes ==="
printf '%-58s %16s %16s\n' "" "real processes" "simulator"
printf '%-58s %16s %16s\n' "new endpoint -> every node, median of probes (ms)" "$(r conv_all_p50_ms)" "$sim_p100_median"
printf '%-58s %16s %16s\n' "new endpoint -> every node, p99 / max of probes (ms)" "$(r conv_all_p99_ms) / $(r conv_all_max_ms)" "- / $sim_p100_max"
printf '%-58s %16s %16s\n' "crash: first node sees it dead (ms)" "$(r detect_first_ms)" "$sim_first"
printf '%-58s %16s %16s\n' "crash: every node sees it dead (ms)" "$(r detect_all_ms)" "$sim_all"
printf '%-58s %16s %16s\n' "false suspicions / deaths, no loss" "$(r false_suspect) / $(r false_dead)" "$sim_false"
printf '%-58s %16s %16s\n' "sidecar restarts during the run" "$(r sidecar_restarts)" "-"
printf '%-58s %16s %16s\n' "idle gossip sent per node (B/s)" "$(r sent_bps)" "$sim_bw"
printf '%-58s %16s %16s\n' "idle CPU per node, weft-plugin + weft-gossip (% of a core)" "$(r cpu_plugin_pct) + $(r cpu_gossip_pct)" "-"
printf '%-58s %16s %16s\n' "RSS per node, weft-plugin + weft-gossip (MiB)" "$(r rss_plugin_mib) + $(r rss_gossip_mib)" "-"
echo "(real: polled /weft.Peers, so convergence includes the IPC to the plugin and one polling round;"
echo " false suspicions/deaths are (observer, member) pairs seen not alive at a poll;"
echo " simulator: the record's arrival at each gossip node, virtual LAN links of 0.2-2 ms;"
echo " its false suspicions/deaths are counted by every node over 5 virtual minutes)"
