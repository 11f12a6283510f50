# shellcheck shell=bash
# testbed.sh: what every part of the bed uses -- messages, time, the state
# directory and the env file, host names, process checks. Sourced by
# testbed.sh (needs TB_DIR, MARKER and the other constants it sets).

die() { echo "testbed: $*" >&2; exit 1; }

log() { echo "testbed: $*" >&2; }

dbg() { if [[ ${TB_DEBUG:-0} == 1 ]]; then echo "testbed: [$(now_ms)] $*" >&2; fi; }

now_ms() { local t; t=$(date +%s%N); echo $((t / 1000000)); }

docker_cli() {
  if [[ -n ${TB_DOCKER_CLI:-} ]]; then echo "$TB_DOCKER_CLI"
  elif [[ -x /usr/bin/docker ]]; then echo /usr/bin/docker
  else command -v docker || die "no docker CLI found"
  fi
}

check_tb_dir() {
  [[ $TB_DIR == /* ]] || die "TB_DIR must be absolute: $TB_DIR"
  [[ $TB_DIR =~ ^[A-Za-z0-9_./+-]+$ ]] || die "TB_DIR may hold only letters, digits and _./+-: $TB_DIR"
  TB_DIR="$(realpath -m "$TB_DIR")"
  case "$TB_DIR" in
    / | /tmp | /run | /run/* | /var/run | /var/run/* | /proc* | /sys* | /dev*)
      die "refusing TB_DIR=$TB_DIR (daemons get a private /run; pick a directory under /tmp)" ;;
  esac
}

# ---------------------------------------------------------------- state

# Loads $TB_DIR/env; fails unless the bed is up (or half up).
load_env() {
  [[ -f $TB_DIR/env ]] || die "no test bed at $TB_DIR (run: testbed.sh up N)"
  # shellcheck disable=SC1091
  source "$TB_DIR/env"
}

# host_var h1 NS -> value of TB_h1_NS
host_var() {
  local n="TB_${1}_${2}"
  [[ -n ${!n+x} ]] || die "unknown host '$1' (hosts: ${TB_HOSTS:-none})"
  echo "${!n}"
}

norm_host() {
  local h="${1:-}"
  [[ -n $h ]] || die "missing <host>"
  [[ $h =~ ^[0-9]+$ ]] && h="h$h"
  [[ $h =~ ^h[0-9]+$ ]] || die "bad host name '$1' (want h1..hN)"
  echo "$h"
}

# The bed's namespace names, exactly (never a glob on the prefix: another
# bed's prefix may extend this one's).
bed_ns_names() {
  local i
  echo "${TB_NS_PREFIX}u"
  for ((i = 1; i <= TB_N; i++)); do echo "${TB_NS_PREFIX}h$i"; done
  echo "${TB_NS_PREFIX}r"
}

# The hosts' cgroup directories (--cgroup-parent) in every hierarchy.
bed_cgroups() {
  local i cg
  for ((i = 1; i <= TB_N; i++)); do
    for cg in /sys/fs/cgroup/*/"${TB_NS_PREFIX}h$i" /sys/fs/cgroup/"${TB_NS_PREFIX}h$i"; do
      if [[ -d $cg ]]; then echo "$cg"; fi
    done
  done
}

# ---------------------------------------------------------------- processes

# cmdline_has PID STRING: does the process's command line contain STRING?
cmdline_has() {
  local c
  c="$( { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null || true)"
  [[ $c == *"$2"* ]]
}

alive() {
  local st
  st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)"
  [[ -n $st && $st != Z ]]
}

# stop_signal [--kill] : the signal a stop command sends (TERM, or KILL).
stop_signal() {
  case "$1" in
    --kill) echo KILL ;;
    "") echo TERM ;;
    *) return 1 ;;
  esac
}

# close_inherited_fds : closes every descriptor of this shell above 2. Run
# right before a bed daemon is exec'd: whatever its caller had open would
# otherwise stay open as long as the daemon (and its children) live -- above
# all the descriptor of `flock /tmp/weft-e2e.lock ctest ...` on the e2e lock,
# so a kept bed would hold the lock and stall every other e2e run.
close_inherited_fds() {
  local p fd
  for p in /proc/self/fd/*; do
    fd=${p##*/}
    # (-L: the glob's own directory descriptor is listed but already closed)
    if ((fd > 2)) && [[ -L $p ]]; then exec {fd}>&-; fi
  done
}

# spawn_recording_pid PIDFILE CMD... : becomes CMD, detached from the
# caller's session (setsid) and with no inherited descriptor above 2, after
# writing its own pid to PIDFILE; run it in the background
# (`spawn_recording_pid f cmd ... &`): $! is then CMD's pid.
spawn_recording_pid() {
  local pf="$1"
  shift
  # shellcheck disable=SC2016  # expanded by the inner bash
  exec setsid bash -c "$(declare -f close_inherited_fds)"'
    close_inherited_fds; echo $$ >"$1"; shift; exec "$@"' _ "$pf" "$@"
}

# stop_pid PID SIG TIMEOUT_S WHAT : sends SIG to PID and waits until it is
# gone; dies naming WHAT if it still runs TIMEOUT_S seconds later.
stop_pid() {
  kill "-$2" "$1"
  local deadline=$(($(now_ms) + $3 * 1000))
  while alive "$1"; do
    (($(now_ms) > deadline)) && die "$4 (pid $1) still running ${3}s after SIG$2"
    sleep 0.05
  done
  return 0
}
