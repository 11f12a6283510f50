#!/usr/bin/env bash
# What a weft network adds to `docker run`: on a one-host test bed (a real
# dockerd, tests/testbed), times `docker run --rm busybox:local true` (create,
# start, exit, remove) N times on each of these networks, interleaved, after a
# warm-up, and prints median, p90, min, max and the median added over
# `--network none` (the issue's target: less than 30 ms):
#
#   none                 no network at all (the baseline)
#   weft                 a weft network as created by default: containers also
#                        get Docker's docker_gwbridge (eth1) for outside access
#   weft gwbridge=false  -o weft.gwbridge=false: no docker_gwbridge
#   weft --internal      an internal weft network (no docker_gwbridge either)
#   bridge               a user-defined network of Docker's own bridge driver
#   bridge --internal    the same, internal: what any user-defined network
#                        costs in Docker itself (embedded DNS, an interface)
#
# Then where the time goes, from dockerd's --debug timestamps and weft-plugin's
# debug log (medians per network):
#
#   net setup      dockerd's `start` request to the runtime bundle: endpoints
#                  created and joined (docker_gwbridge's endpoint too)
#   set-key        Docker's libnetwork-setkey hook (reported by dockerd):
#                  interfaces moved into the container and, for user-defined
#                  networks, the embedded DNS set up -- a re-exec of dockerd
#                  that runs iptables in the container's namespace
#   teardown       container exit to removal: Leave, DeleteEndpoint, and
#                  docker_gwbridge's endpoint
#   dockerd total  `create` request to removal, as dockerd saw it
#   weft handlers  time weft-plugin spent answering Docker during the run
#
# and the differences that say whose time it is. Brings up its own bed
# (dockerd with --debug unless PHASES=0) and tears it down.
#
#   bench/docker/docker_run_overhead.sh [N]        (as root; default N=30)
#
# Environment: WARMUP (default 3 rounds), PHASES (default 1; 0: plain dockerd,
# no breakdown), WEFT_BIN (default <repo>/build/bin).
# The bed, its teardown and the helpers come from the e2e library
# (tests/e2e/lib.sh, weft_lib.sh).
# shellcheck disable=SC2154  # TB_h1_DOCKER_HOST and friends: the bed's env file
# shellcheck source-path=SCRIPTDIR source=../../tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../tests/e2e/lib.sh"
# shellcheck source=../../tests/e2e/weft_lib.sh
source "$E2E_LIB_DIR/weft_lib.sh"
n="${1:-30}"
warmup="${WARMUP:-3}"
phases="${PHASES:-1}"
if ! [[ $n =~ ^[0-9]+$ ]] || ((n < 1)); then echo "docker_run_overhead: N must be a positive number" >&2; exit 2; fi
e2e_require_weft

if [[ $phases == 1 ]]; then export TB_DOCKERD_ARGS="${TB_DOCKERD_ARGS:+$TB_DOCKERD_ARGS }--debug"; fi
weft_args=()
if [[ $phases == 1 ]]; then weft_args=(--log-level debug); fi
weft_bed_up 1 "${weft_args[@]}"
# The docker CLI itself, not through testbed.sh: what is timed is `docker run`.
docker_cli="${TB_DOCKER_CLI:-/usr/bin/docker}"
d() { DOCKER_CONFIG="$TB_DIR/cli" "$docker_cli" -H "$TB_h1_DOCKER_HOST" "$@"; }
dlog="$TB_h1_DIR/dockerd.log"
wlog="$TB_h1_WEFT_LOG"

# The networks: label, docker network name, `docker network create` arguments.
labels=("none" "weft" "weft gwbridge=false" "weft --internal" "bridge" "bridge --internal")
nets=(none wdef wnogw wint bdef bint)
d network create -d weft --subnet 10.10.0.0/24 wdef >/dev/null
d network create -d weft --subnet 10.11.0.0/24 -o weft.gwbridge=false wnogw >/dev/null
d network create -d weft --internal --subnet 10.12.0.0/24 wint >/dev/null
d network create -d bridge --subnet 10.99.0.0/24 bdef >/dev/null
d network create -d bridge --internal --subnet 10.98.0.0/24 bint >/dev/null
nv=${#nets[@]}

lines() { if [[ -f $1 ]]; then wc -l <"$1"; else echo 0; fi; }
now_ns() { date +%s%N; }
runs=()       # one "network-index wall-ms dockerd-log-line weft-log-line" per measured run
# run NETWORK-INDEX [record]: one `docker run --rm`
run() {
  local i="$1" t0 t1 dl wl
  dl=$(lines "$dlog")
  wl=$(lines "$wlog")
  t0=$(now_ns)
  d run --rm --network "${nets[$i]}" busybox:local true >/dev/null
  t1=$(now_ns)
  if [[ ${2:-} == record ]]; then
    runs+=("$i $(awk -v ns=$((t1 - t0)) 'BEGIN { printf "%.3f", ns / 1e6 }') $((dl + 1)) $((wl + 1))")
  fi
}

for ((r = 0; r < warmup; r++)); do
  for ((i = 0; i < nv; i++)); do run "$i"; done
done
for ((r = 0; r < n; r++)); do
  # rotate which goes first, so each network follows each other one
  for ((k = 0; k < nv; k++)); do run $(((r + k) % nv)) record; done
done
sleep 0.5  # the last run's final log lines
dend=$(($(lines "$dlog") + 1))
wend=$(($(lines "$wlog") + 1))

# phases_of FROM TO: "net-setup set-key teardown dockerd-total" (ms) of one
# run from dockerd's log lines FROM..TO-1 ("-" when a mark is missing), then
# when dockerd got `create` and finished removing (seconds since midnight).
phases_of() {
  sed -n "$1,$(($2 - 1))p" "$dlog" | awk '
    function t(   s, a, v) {  # seconds since midnight of time="YYYY-MM-DDTHH:MM:SS.fffZ"
      if (!match($0, /time="[0-9-]+T[0-9:.]+Z"/)) return -1
      s = substr($0, RSTART + 17, RLENGTH - 19)
      split(s, a, ":"); v = a[1] * 3600 + a[2] * 60 + a[3]
      if (c != "" && v < c) v += 86400
      return v
    }
    /Calling POST .*\/containers\/create/ && c == "" { c = t() }
    /Calling POST .*\/containers\/[0-9a-f]+\/start/ && s == "" { s = t() }
    /bundle dir created/ && b == "" { b = t() }
    /set key processing took/ && k == "" {
      match($0, /took [0-9.]+[^ ]*/); v = substr($0, RSTART + 5, RLENGTH - 5)
      num = v + 0; unit = v; sub(/^[0-9.]+/, "", unit)
      k = (unit == "ms") ? num : (unit == "s") ? num * 1000 : num / 1000
    }
    /event forwarded/ && /topic=\/tasks\/exit/ && x == "" { x = t() }
    /event published/ && /topic=\/containers\/delete/ && del == "" { del = t() }
    function ms(a, b) { return (a == "" || b == "") ? "-" : sprintf("%.1f", (b - a) * 1000) }
    END { printf "%s %s %s %s %s %s\n", ms(s, b), (k == "" ? "-" : sprintf("%.1f", k)), ms(x, del), ms(c, del),
                 (c == "" ? "-" : sprintf("%.3f", c)), (del == "" ? "-" : sprintf("%.3f", del)) }'
}
# weft_ms FROM TO T0 T1: time weft-plugin spent answering Docker's requests
# that it finished between T0 and T1 (seconds since midnight), from its debug
# log lines FROM..TO-1.
weft_ms() {
  if [[ $3 == - || $4 == - ]]; then echo -; return; fi
  sed -n "$1,$(($2 - 1))p" "$wlog" | awk -v t0="$3" -v t1="$4" '
    / http: \/NetworkDriver\./ && / in [0-9]+ us/ {
      split(substr($1, 12, 12), a, ":"); t = a[1] * 3600 + a[2] * 60 + a[3]
      if (t < t0 - 43200) t += 86400
      if (t < t0 || t > t1 + 0.001) next
      for (i = 1; i < NF; i++) if ($i == "in") us += $(i + 1)
    }
    END { printf "%.1f\n", us / 1000 }'
}

# stats: "median p90 min max" of its arguments (nearest-rank), "-" ignored
stats() {
  printf '%s\n' "$@" | { grep -v '^-$' || true; } | sort -n | awk '{ v[NR] = $1 }
    END { if (NR == 0) { print "- - - -"; exit }
          m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
          r = int(0.9 * NR + 0.999999); printf "%.1f %.1f %.1f %.1f\n", m, v[r], v[1], v[NR] }'
}
median() { local m _; read -r m _ <<<"$(stats "$@")"; echo "$m"; }
sub_ms() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%+.1f", a - b }'; }

declare -A wall=() nsetup=() setkey=() teardown=() dtotal=() whand=()
for ((j = 0; j < ${#runs[@]}; j++)); do
  read -r i w dl wl <<<"${runs[$j]}"
  wall[$i]+="$w "
  if [[ $phases == 1 ]]; then
    # this run's log lines: up to where the next run's begin (weft's: the
    # next two runs', as it may log a reply after Docker moved on)
    if ((j + 1 < ${#runs[@]})); then read -r _ _ dl2 _ <<<"${runs[$((j + 1))]}"; else dl2=$dend; fi
    if ((j + 2 < ${#runs[@]})); then read -r _ _ _ wl2 <<<"${runs[$((j + 2))]}"; else wl2=$wend; fi
    read -r a b c e t0 t1 <<<"$(phases_of "$dl" "$dl2")"
    nsetup[$i]+="$a " setkey[$i]+="$b " teardown[$i]+="$c " dtotal[$i]+="$e "
    whand[$i]+="$(weft_ms "$wl" "$wl2" "$t0" "$t1") "
  fi
done

# shellcheck disable=SC2086  # the sample lists are word-split on purpose
{
  for ((i = 0; i < nv; i++)); do med_wall[i]=$(median ${wall[$i]}); done
  echo "# docker run --rm busybox:local true, $n runs per network (interleaved, after $warmup warm-up rounds)"
  echo "# $(uname -r), $(nproc) cpus, $(dockerd --version 2>/dev/null | head -1)$([[ $phases == 1 ]] && echo ' (--debug)')"
  printf '%-20s %9s %9s %9s %9s %10s\n' "network" "median" "p90" "min" "max" "vs none"
  for ((i = 0; i < nv; i++)); do
    read -r m p lo hi <<<"$(stats ${wall[$i]})"
    vs=""; ((i > 0)) && vs="$(sub_ms "$m" "${med_wall[0]}") ms"
    printf '%-20s %6s ms %6s ms %6s ms %6s ms %10s\n' "${labels[$i]}" "$m" "$p" "$lo" "$hi" "$vs"
  done

  if [[ $phases == 1 ]]; then
    echo
    echo "# where the time goes (medians, ms): dockerd --debug timestamps, weft-plugin's request log"
    printf '%-20s %10s %9s %9s %14s %14s\n' "network" "net setup" "set-key" "teardown" "dockerd total" "weft handlers"
    for ((i = 0; i < nv; i++)); do
      md_ns[i]=$(median ${nsetup[$i]}); md_sk[i]=$(median ${setkey[$i]}); md_td[i]=$(median ${teardown[$i]})
      md_dt[i]=$(median ${dtotal[$i]}); md_wh[i]=$(median ${whand[$i]})
      printf '%-20s %10s %9s %9s %14s %14s\n' "${labels[$i]}" "${md_ns[i]}" "${md_sk[i]}" "${md_td[i]}" "${md_dt[i]}" "${md_wh[i]}"
    done
  fi

  echo
  verdict() { awk -v x="$1" 'BEGIN { print (x != "-" && x + 0 < 30) ? "met" : "NOT met" }'; }
  a_def="$(sub_ms "${med_wall[1]}" "${med_wall[0]}")"
  a_nogw="$(sub_ms "${med_wall[2]}" "${med_wall[0]}")"
  a_int="$(sub_ms "${med_wall[3]}" "${med_wall[0]}")"
  echo "added median by weft (weft - none): ${a_def#+} ms (target < 30 ms: $(verdict "$a_def"))"
  echo "added median by weft -o weft.gwbridge=false (- none): ${a_nogw#+} ms (target < 30 ms: $(verdict "$a_nogw"))"
  echo "added median by weft --internal (- none): ${a_int#+} ms (target < 30 ms: $(verdict "$a_int"))"
  echo "docker_gwbridge's share (weft - weft gwbridge=false): $(sub_ms "${med_wall[1]}" "${med_wall[2]}") ms"
  echo "Docker's own user-defined network (bridge --internal - none): $(sub_ms "${med_wall[5]}" "${med_wall[0]}") ms"
  echo "weft - user-defined bridge (median): $(sub_ms "${med_wall[1]}" "${med_wall[4]}") ms"
  echo "weft gwbridge=false - bridge --internal (median): $(sub_ms "${med_wall[2]}" "${med_wall[5]}") ms"
  if [[ $phases == 1 ]]; then
    # dockerd's own share of what a gateway-less weft network adds: its total
    # over none's, less the time weft-plugin itself spent answering.
    own="$(awk -v t="${md_dt[2]}" -v z="${md_dt[0]}" -v h="${md_wh[2]}" 'BEGIN { printf "%.1f", t - z - h }')"
    echo "weft gwbridge=false, inside dockerd: $(sub_ms "${md_dt[2]}" "${md_dt[0]}") ms over none, of which weft-plugin's" \
      "handlers ${md_wh[2]} ms and dockerd's own per-network work $own ms" \
      "(set-key $(sub_ms "${md_sk[2]}" "${md_sk[0]}") ms; bridge --internal: set-key $(sub_ms "${md_sk[5]}" "${md_sk[0]}") ms)"
  fi
}
