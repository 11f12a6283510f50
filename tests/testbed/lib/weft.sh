# shellcheck shell=bash
# testbed.sh: weft-plugin on a host -- `weft-start`, `weft-stop`.

weft_pid() {
  local pf p
  pf="$(host_var "$1" WEFT_PIDFILE)"
  [[ -f $pf ]] || return 1
  p="$(cat "$pf")"
  [[ $p =~ ^[0-9]+$ ]] && alive "$p" || return 1
  cmdline_has "$p" "$(host_var "$1" WEFT_SOCK)" || return 1
  echo "$p"
}

cmd_weft_start() {
  load_env
  local h
  h="$(norm_host "${1:-}")"
  shift
  # `--key K` is taken out of the arguments and handed to weft-plugin as
  # WEFT_KEY: a key on a command line is readable by every local user
  # (/proc/<pid>/cmdline), and weft-plugin warns about it.
  local key="" args=()
  while (($#)); do
    case $1 in
      --key)
        (($# >= 2)) || die "weft-start: --key needs a value"
        key=$2
        shift 2
        ;;
      --key=*)
        key=${1#--key=}
        shift
        ;;
      *)
        args+=("$1")
        shift
        ;;
    esac
  done
  set -- "${args[@]}"
  local bin="${WEFT_BIN:-$REPO/build/bin}/weft-plugin"
  [[ -x $bin ]] || die "weft-plugin not found at $bin (build it, or set WEFT_BIN)"
  local ns sock state logf pf addr p
  ns="$(host_var "$h" NS)"
  sock="$(host_var "$h" WEFT_SOCK)"
  state="$(host_var "$h" WEFT_STATE)"
  logf="$(host_var "$h" WEFT_LOG)"
  pf="$(host_var "$h" WEFT_PIDFILE)"
  addr="$(host_var "$h" ADDR)"
  if p="$(weft_pid "$h")"; then die "$h: weft-plugin already running (pid $p)"; fi
  mkdir -p "$state"
  rm -f "$sock"
  echo "=== $(date -Is) weft-start $h: $bin $*${key:+ (WEFT_KEY set)}" >>"$logf"
  # (the pid file holds nsenter's pid, which execs weft-plugin)
  (
    [[ -z $key ]] || export WEFT_KEY="$key"
    spawn_recording_pid "$pf" nsenter --net="/run/netns/$ns" -- \
      "$bin" --socket "$sock" --state-dir "$state" --advertise-addr "$addr" "$@" \
      </dev/null >>"$logf" 2>&1
  ) &
  local launcher=$! deadline
  deadline=$(($(now_ms) + ${WEFT_START_TIMEOUT:-30} * 1000))
  until [[ -S $sock ]] && curl -sf --max-time 2 --unix-socket "$sock" -d '{}' http://x/Plugin.Activate >/dev/null 2>&1; do
    if ! alive "$launcher"; then
      log "$h: weft-plugin exited; last log lines:"
      tail -n 20 "$logf" >&2 || true
      die "$h: weft-plugin failed to start"
    fi
    if (($(now_ms) > deadline)); then
      tail -n 20 "$logf" >&2 || true
      die "$h: weft-plugin did not answer on $sock in time"
    fi
    sleep 0.05
  done
  log "$h: weft-plugin running (pid $(cat "$pf")), socket $sock"
}

cmd_weft_stop() {
  load_env
  local h
  h="$(norm_host "${1:-}")"
  shift
  local sig
  sig="$(stop_signal "${1:-}")" || die "usage: testbed.sh weft-stop <host> [--kill]"
  local p pf
  pf="$(host_var "$h" WEFT_PIDFILE)"
  if ! p="$(weft_pid "$h")"; then
    rm -f "$pf"
    log "$h: weft-plugin not running"
    return 0
  fi
  stop_pid "$p" "$sig" "${WEFT_STOP_TIMEOUT:-20}" "$h: weft-plugin"
  rm -f "$pf"
  log "$h: weft-plugin (pid $p) stopped with SIG$sig"
}
