# shellcheck shell=bash
# testbed.sh: each host's dockerd -- started in the host's network namespace
# and a private mount namespace, waited for, stopped and started again in
# that mount namespace (`dockerd-stop`, `dockerd-start`); `docker`.

# Runs inside `unshare -m -u --propagation private` + `nsenter --net`: gives the
# daemon a private /run (so it sees no system containerd, keeps containerd's
# shim sockets to itself and has its own /run/docker/plugins), then becomes
# dockerd.
inner_dockerd() {
  local h="$1"
  load_env
  local d ns
  d="$(host_var "$h" DIR)"
  ns="$(host_var "$h" NS)"
  # Drop this mount namespace's copies of the netns bind mounts, so it holds
  # no references to other namespaces of the bed.
  # Its own UTS namespace too: `docker info` and swarm show the host's name.
  echo "$h" >/proc/sys/kernel/hostname
  # (-n everywhere: no /run/mount/utab bookkeeping in the real /run.)
  local m
  while read -r m; do umount -n -l "$m" 2>/dev/null || true; done \
    < <(findmnt -rn -o TARGET | grep -E '^/run/netns(/|$)' | sort -r || true)
  mount -n -t tmpfs -o mode=0755,size=64m tbw-run /run
  # TB_RUN_SHARED=1: /run is a shared mount, as on a systemd host (weft's
  # managed plugin keeps its namespaces in the host's /run/weft/netns).
  if [[ ${TB_RUN_SHARED:-0} == 1 ]]; then mount -n --make-rshared /run; fi
  mkdir -p /run/docker/plugins /run/lock
  mount -n --bind "$d/plugins" /run/docker/plugins
  # TB_RUN_SHARED=1 (managed plugin beds): the daemon's exec root is under
  # /run, as Docker's default /var/run/docker is on a real host, so the
  # plugin finds containers' namespaces (Join's SandboxKey) through its
  # mount of the host's /run; the directory itself is $d/x, so the bed still
  # finds containerd's pid there. The engine's API is also at
  # /run/docker.sock, where the plugin's ENGINE_SOCKET points.
  if [[ ${TB_RUN_SHARED:-0} == 1 ]]; then
    mkdir -p /run/tbx
    mount -n --bind "$d/x" /run/tbx
  fi
  # containerd's "opt" plugin creates /opt/containerd; keep that private too.
  mount -n -t tmpfs -o mode=0755,size=1m tbw-opt /opt
  # This engine reads the trust key (which fixes the engine ID) from
  # /etc/docker/key.json unless its config file names another path.
  [[ -f $d/daemon.json ]] || printf '{"deprecated-key-path": "%s"}\n' "$d/key.json" >"$d/daemon.json"
  exec_dockerd "$h"
}

# Becomes the host's dockerd (in a mount namespace set up by inner_dockerd).
exec_dockerd() {
  local h="$1" d ns
  d="$(host_var "$h" DIR)"
  ns="$(host_var "$h" NS)"
  local extra=()
  # shellcheck disable=SC2206  # word splitting of TB_DOCKERD_ARGS is intended
  [[ -n ${TB_DOCKERD_ARGS:-} ]] && extra=($TB_DOCKERD_ARGS)
  local exec_root="$d/x" hosts=(-H "unix://$d/docker.sock")
  if mountpoint -q /run/tbx; then
    exec_root=/run/tbx
    hosts+=(-H unix:///run/docker.sock)
  fi
  # (containerd, its shims and a managed plugin inherit dockerd's descriptors)
  close_inherited_fds
  exec dockerd \
    --data-root "$d/data" \
    --exec-root "$exec_root" \
    --pidfile "$d/dockerd.pid" \
    "${hosts[@]}" \
    --config-file "$d/daemon.json" \
    --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
    --cgroup-parent "/$ns" \
    "${extra[@]}" \
    >>"$d/dockerd.log" 2>&1 </dev/null
}

start_dockerd() {
  local h="$1" d ns
  d="$(host_var "$h" DIR)"
  ns="$(host_var "$h" NS)"
  mkdir -p "$d/data" "$d/x" "$d/plugins" "$d/weft"
  # setsid: detached from the caller's session. The launcher pid ($!) becomes
  # dockerd itself (unshare, nsenter and bash all exec).
  TB_DIR="$TB_DIR" setsid unshare -m -u --propagation private -- \
    nsenter --net="/run/netns/$ns" -- \
    bash "$SELF" __dockerd "$h" </dev/null >>"$d/dockerd.log" 2>&1 &
  echo "$!" >"$d/launcher.pid"
}

wait_dockerd() {
  local h="$1" d sock deadline pid
  d="$(host_var "$h" DIR)"
  sock="$(host_var "$h" DOCKER_SOCK)"
  pid="$(cat "$d/launcher.pid")"
  deadline=$(($(now_ms) + 60000))
  until DOCKER_CONFIG="$TB_DIR/cli" "$(docker_cli)" -H "unix://$sock" info >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$h: dockerd (pid $pid) exited; last log lines:"
      tail -n 20 "$d/dockerd.log" >&2 || true
      return 1
    fi
    if (($(now_ms) > deadline)); then
      log "$h: dockerd did not answer within 60s; last log lines:"
      tail -n 20 "$d/dockerd.log" >&2 || true
      return 1
    fi
    sleep 0.2
  done
}

# pid_of HOST FILE PATTERN : the live pid in the host's FILE whose command
# line holds PATTERN.
pid_of() {
  local d p
  d="$(host_var "$1" DIR)"
  p="$(cat "$d/$2" 2>/dev/null || true)"
  [[ $p =~ ^[0-9]+$ ]] && alive "$p" && cmdline_has "$p" "${3//@DIR@/$d}" || return 1
  echo "$p"
}

# dockerd_pid HOST : pid of the host's running dockerd (the launcher execs it).
dockerd_pid() { pid_of "$1" launcher.pid "@DIR@/data"; }

# mntns_holder HOST : pid of the process that keeps the host's mount namespace
# while its dockerd is stopped (see cmd_dockerd_stop).
mntns_holder() { pid_of "$1" mntns.pid "tbw-mntns @DIR@"; }

# A host's mount namespace (private /run with /run/docker/plugins, the shim
# sockets, a managed plugin's mounts) outlives its dockerd, as a real host's
# does across `systemctl restart docker`: before the first stop, a holder
# process (in the host's netns, so `down` finds it) joins it.
cmd_dockerd_stop() {
  load_env
  local h
  h="$(norm_host "${1:-}")"
  shift
  local sig
  sig="$(stop_signal "${1:-}")" || die "usage: testbed.sh dockerd-stop <host> [--kill]"
  local d ns p hp
  d="$(host_var "$h" DIR)"
  ns="$(host_var "$h" NS)"
  p="$(dockerd_pid "$h")" || die "$h: dockerd is not running"
  if ! hp="$(mntns_holder "$h")"; then
    # shellcheck disable=SC2016  # expanded by the inner bash
    spawn_recording_pid "$d/mntns.pid" nsenter -t "$p" -m -u --net="/run/netns/$ns" -- \
      bash -c 'exec -a "$0" sleep infinity' "tbw-mntns $d" </dev/null >/dev/null 2>&1 &
    local deadline=$(($(now_ms) + 5000))
    until hp="$(mntns_holder "$h")" && [[ $(readlink "/proc/$hp/ns/mnt") == "$(readlink "/proc/$p/ns/mnt")" ]]; do
      (($(now_ms) > deadline)) && die "$h: could not keep dockerd's mount namespace"
      sleep 0.05
    done
  fi
  stop_pid "$p" "$sig" "${TB_DOCKERD_STOP_TIMEOUT:-120}" "$h: dockerd"
  log "$h: dockerd (pid $p) stopped with SIG$sig"
}

cmd_dockerd_start() {
  load_env
  local h
  h="$(norm_host "${1:-}")"
  shift
  local wait=1
  case "${1:-}" in
    --no-wait) wait=0 ;;
    "") ;;
    *) die "usage: testbed.sh dockerd-start <host> [--no-wait]" ;;
  esac
  local d ns p hp
  d="$(host_var "$h" DIR)"
  ns="$(host_var "$h" NS)"
  if p="$(dockerd_pid "$h")"; then die "$h: dockerd already running (pid $p)"; fi
  hp="$(mntns_holder "$h")" || die "$h: no kept mount namespace (stop dockerd with dockerd-stop first)"
  TB_DIR="$TB_DIR" setsid nsenter -t "$hp" -m -u --net="/run/netns/$ns" -- \
    bash "$SELF" __dockerd_again "$h" </dev/null >>"$d/dockerd.log" 2>&1 &
  echo "$!" >"$d/launcher.pid"
  if ((wait)); then wait_dockerd "$h" || die "$h: dockerd did not come back"; fi
  log "$h: dockerd started again (pid $(cat "$d/launcher.pid"))"
}

cmd_docker() {
  load_env
  local h
  h="$(norm_host "${1:-}")"
  shift
  DOCKER_CONFIG="$TB_DIR/cli" exec "$(docker_cli)" -H "$(host_var "$h" DOCKER_HOST)" "$@"
}
