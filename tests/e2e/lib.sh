# shellcheck shell=bash disable=SC2034
# (SC2034: variables such as E2E_OUT are set here for the tests to read.)
# Helpers for weft's bash end-to-end tests. Source it first thing:
#
#   #!/usr/bin/env bash
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   e2e_require_root
#   e2e_bed_up 2                 # its own TB_DIR and namespace prefix
#   tb_docker h1 run --rm --network none busybox:local true
#   assert_eq "x" "$(...)" "what it means"
#   e2e_pass
#
# What it gives a test:
# * a trap that always tears down the bed the test brought up (even on
#   failure or Ctrl-C), after printing the tails of the bed's logs if the
#   test failed; WEFT_E2E_KEEP=1 keeps a failed test's bed for inspection
#   (then: TB_DIR=<printed dir> tests/testbed/testbed.sh down);
# * a unique TB_DIR and namespace prefix per run, so runs never collide,
#   and clean-up of beds whose test was killed (owner gone);
# * the test runs under `tini -s` (a child subreaper that reaps): on hosts
#   whose pid 1 does not reap orphans, the bed's daemons would otherwise
#   stay behind as zombies after `down`;
# * assert_* functions that say what failed, where, and exit non-zero;
# * wait_until, timers, step logging, e2e_on_exit hooks.
#
# Asserts exit the shell they run in: call them at the test's top level (or
# in functions), not inside $(...) or a pipeline.
#
# Exit code 77 means "skipped" (ctest SKIP_RETURN_CODE).

set -euo pipefail

E2E_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
E2E_REPO="$(cd "$E2E_LIB_DIR/../.." && pwd)"
TESTBED="$E2E_REPO/tests/testbed/testbed.sh"
E2E_NAME="$(basename "$0" .sh)"

# ---------------------------------------------------------------- reaper
if [[ -z ${WEFT_E2E_REAPER:-} ]]; then
  export WEFT_E2E_REAPER=1
  for _tini in /usr/bin/tini /usr/bin/tini-static /usr/bin/docker-init; do
    if [[ -x $_tini ]]; then exec "$_tini" -s -g -- bash "$0" "$@"; fi
  done
  echo "$E2E_NAME: WARNING: tini not found; orphaned daemons may linger as zombies" >&2
fi

# ---------------------------------------------------------------- timing
now_ms() { local t; t=$(date +%s%N); echo $((t / 1000000)); }
E2E_T0=$(now_ms)

declare -A _E2E_TIMERS=()
# timer_start NAME; timer_ms NAME -> ms since timer_start NAME
timer_start() { _E2E_TIMERS[$1]=$(now_ms); }
timer_ms() { echo $(($(now_ms) - ${_E2E_TIMERS[$1]:?timer $1 not started})); }

# time_it LABEL CMD... : runs CMD, prints "TIME LABEL: N ms", sets E2E_LAST_MS,
# appends "LABEL N" to $E2E_TIMINGS if set; returns CMD's status.
E2E_LAST_MS=0
time_it() {
  local label="$1" t rc=0
  shift
  t=$(now_ms)
  "$@" || rc=$?
  E2E_LAST_MS=$(($(now_ms) - t))
  echo "TIME $label: $E2E_LAST_MS ms" >&2
  if [[ -n ${E2E_TIMINGS:-} ]]; then echo "$label $E2E_LAST_MS" >>"$E2E_TIMINGS"; fi
  return "$rc"
}

# ---------------------------------------------------------------- logging
_e2e_elapsed() { local ms=$(($(now_ms) - E2E_T0)); printf '%d.%03ds' $((ms / 1000)) $((ms % 1000)); }
log() { echo "[$E2E_NAME +$(_e2e_elapsed)] $*" >&2; }
step() { echo "[$E2E_NAME +$(_e2e_elapsed)] == $*" >&2; }

# ---------------------------------------------------------------- asserts
# Where the failing assert was called from (skipping lib.sh frames).
_e2e_where() {
  local i=1
  while [[ ${BASH_SOURCE[i]:-} == "${BASH_SOURCE[0]}" ]]; do i=$((i + 1)); done
  echo "$(basename "${BASH_SOURCE[i]:-?}"):${BASH_LINENO[i - 1]:-?}"
}

fail() {
  echo "FAIL [$E2E_NAME] at $(_e2e_where): $*" >&2
  exit 1
}

assert_eq() { # expected actual [message]
  [[ $1 == "$2" ]] || fail "${3:-values differ}"$'\n'"  expected: '$1'"$'\n'"  actual:   '$2'"
}
assert_ne() { # unexpected actual [message]
  [[ $1 != "$2" ]] || fail "${3:-values should differ}: both '$1'"
}
assert_contains() { # haystack needle [message]
  [[ $1 == *"$2"* ]] || fail "${3:-missing text}: '$2' not in:"$'\n'"$1"
}
assert_not_contains() { # haystack needle [message]
  [[ $1 != *"$2"* ]] || fail "${3:-unexpected text}: '$2' found in:"$'\n'"$1"
}
assert_match() { # regex string [message]
  [[ $2 =~ $1 ]] || fail "${3:-no match}: '$2' !~ /$1/"
}
assert_empty() { # value [message]
  [[ -z $1 ]] || fail "${2:-expected nothing}, got:"$'\n'"$1"
}
assert_int_le() { # a b [message]   a <= b
  (($1 <= $2)) || fail "${3:-too large}: $1 > $2"
}

# assert_ok CMD... : CMD must succeed; on failure shows its output and status.
assert_ok() {
  local out rc=0
  out="$("$@" 2>&1)" || rc=$?
  ((rc == 0)) || fail "command failed (exit $rc): $*"$'\n'"$out"
  E2E_OUT="$out"
}
# fds_on PATH PID... : "pid(comm) " for each process PID with a descriptor
# open on PATH (nothing if none).
fds_on() {
  local path="$1" p fd
  shift
  for p in "$@"; do
    for fd in "/proc/$p/fd/"*; do
      if [[ $(readlink "$fd" 2>/dev/null) == "$path" ]]; then
        echo -n "$p($(cat "/proc/$p/comm" 2>/dev/null)) "
        break
      fi
    done
  done
}
# proc_gone PID : the process has exited (gone, or a zombie its parent has
# not reaped yet: a daemon whose launcher exited belongs to whichever init
# reaps orphans, whenever it does).
proc_gone() {
  local st
  st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)"
  [[ -z $st || $st == Z ]]
}
# assert_fails CMD... : CMD must fail.
assert_fails() {
  local out rc=0
  out="$("$@" 2>&1)" || rc=$?
  ((rc != 0)) || fail "command should have failed: $*"$'\n'"$out"
  E2E_OUT="$out"
}
E2E_OUT=""

# wait_until TIMEOUT_S CMD... : polls CMD (every 0.2 s) until it succeeds.
# Sets E2E_WAITED_MS. Fails the test on timeout, showing CMD's last output.
E2E_WAITED_MS=0
wait_until() {
  local timeout="$1" t0 out
  shift
  t0=$(now_ms)
  while :; do
    if out="$("$@" 2>&1)"; then
      E2E_WAITED_MS=$(($(now_ms) - t0))
      return 0
    fi
    (($(now_ms) - t0 > timeout * 1000)) && break
    sleep 0.2
  done
  fail "timed out after ${timeout}s waiting for: $*"$'\n'"  last output: $out"
}

e2e_skip() { echo "SKIP [$E2E_NAME]: $*" >&2; exit 77; }
e2e_require_root() { [[ $(id -u) -eq 0 ]] || e2e_skip "needs root"; }
e2e_require_cmd() {
  local c
  for c in "$@"; do command -v "$c" >/dev/null || e2e_skip "needs $c"; done
}
e2e_pass() { echo "PASS [$E2E_NAME] in $(_e2e_elapsed)" >&2; }

# ---------------------------------------------------------------- test bed
E2E_BED_PARENT=""
E2E_NS_PREFIX=""

# Process start time (clock ticks since boot): pid + start time names a
# process uniquely, even after pid reuse.
_e2e_starttime() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null || true; }

# Tears down beds left by e2e runs that were killed (their owner is gone).
e2e_reap_stale_beds() {
  local d opid ostart
  for d in /tmp/weft-e2e.*; do
    [[ -f $d/owner ]] || continue
    read -r opid ostart <"$d/owner" || continue
    if [[ -n $opid && $(_e2e_starttime "$opid") == "$ostart" ]]; then continue; fi
    log "cleaning up stale bed $d (owner $opid is gone)"
    if [[ -d $d/bed ]]; then TB_DIR="$d/bed" "$TESTBED" down || { log "could not clean $d"; continue; }; fi
    rm -rf --one-file-system "$d"
  done
  return 0
}

# tb ARGS... : testbed.sh against this test's bed.
tb() { TB_DIR="$TB_DIR" "$TESTBED" "$@"; }
tb_docker() { tb docker "$@"; }
tb_exec() { tb exec "$@"; }

# e2e_bed_up N : brings up hosts h1..hN in a fresh, unique bed and arranges
# for it to be torn down when the test exits. Sources the bed's env file
# (TB_HOSTS, TB_h1_ADDR, ...).
e2e_bed_up() {
  e2e_reap_stale_beds
  E2E_BED_PARENT="$(mktemp -d /tmp/weft-e2e.XXXXXX)"
  echo "$$ $(_e2e_starttime $$)" >"$E2E_BED_PARENT/owner"
  export TB_DIR="$E2E_BED_PARENT/bed"
  E2E_NS_PREFIX="tbw-${E2E_BED_PARENT##*.}-"
  export TB_NS_PREFIX="$E2E_NS_PREFIX"
  trap _e2e_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  log "bed: TB_DIR=$TB_DIR prefix=$TB_NS_PREFIX hosts=$1"
  time_it "testbed up $1" tb up "$1" || fail "testbed up $1 failed"
  # shellcheck disable=SC1091
  source "$TB_DIR/env"
}

# e2e_bed_down : tears the bed down now (the exit trap then has nothing to do).
e2e_bed_down() {
  [[ -n $E2E_BED_PARENT ]] || return 0
  time_it "testbed down" tb down || fail "testbed down failed"
  rm -rf --one-file-system "$E2E_BED_PARENT"
  E2E_BED_PARENT=""
}

_e2e_dump_logs() {
  local f
  for f in "$TB_DIR"/h*/dockerd.log "$TB_DIR"/h*/weft.log; do
    [[ -f $f ]] || continue
    echo "---- last lines of $f" >&2
    tail -n "${WEFT_E2E_LOG_LINES:-25}" "$f" >&2 || true
  done
}

# e2e_on_exit CMD... : run CMD when the test exits, before the bed goes down
# (e.g. to print weftctl output). Hooks see $E2E_RC (the test's status).
E2E_EXIT_HOOKS=()
e2e_on_exit() { E2E_EXIT_HOOKS+=("$(printf '%q ' "$@")"); }

_e2e_exit() {
  local rc=$? h
  trap - EXIT INT TERM
  set +e
  E2E_RC=$rc
  for h in "${E2E_EXIT_HOOKS[@]}"; do eval "$h"; done
  if [[ -n $E2E_BED_PARENT ]]; then
    if ((rc != 0)); then
      _e2e_dump_logs
      tb status >&2 2>&1
    fi
    if ((rc != 0)) && [[ ${WEFT_E2E_KEEP:-0} == 1 ]]; then
      log "WEFT_E2E_KEEP=1: bed kept; clean up with: TB_DIR=$TB_DIR $TESTBED down && rm -rf $E2E_BED_PARENT"
    else
      if tb down; then
        rm -rf --one-file-system "$E2E_BED_PARENT"
      else
        echo "FAIL [$E2E_NAME]: testbed down failed for $TB_DIR" >&2
        ((rc == 0)) && rc=1
      fi
    fi
  fi
  exit "$rc"
}
