#!/usr/bin/env bash
# weft test bed: several real Docker "hosts" on one machine.
#
# Each host is a network namespace with its own dockerd (and that dockerd's
# own managed containerd), joined to the others by an underlay bridge that
# lives in a namespace of its own. Nothing is created in the root network
# namespace; all files live under $TB_DIR.
#
# Usage: testbed.sh <command> [args]
#   up N                       bring up hosts h1..hN
#   down                       tear everything down (idempotent)
#   docker <host> <args...>    docker CLI against that host's daemon
#   exec <host> <cmd...>       run a command in that host's network namespace
#   weft-start <host> [args]   start weft-plugin for that host
#   weft-stop <host> [--kill]  stop it (SIGTERM and wait, or SIGKILL)
#   dockerd-stop <host> [--kill]
#                              stop the host's dockerd (SIGTERM and wait, as
#                              `systemctl stop docker`; or SIGKILL); its mount
#                              namespace (private /run) is kept, as a host's is
#   dockerd-start <host> [--no-wait]
#                              start it again in that mount namespace; waits
#                              until it answers unless --no-wait
#   link-down <host>           take the host's underlay link down (cable pull)
#   link-up <host>             bring it back
#   status                     hosts, pids, addresses
#   registry-start             a Docker registry (Debian's docker-registry) in its
#                              own namespace on the underlay, $TB_REGISTRY_ADDR
#                              (198.18.0.254:5000); dockerd needs
#                              TB_DOCKERD_ARGS="--insecure-registry 198.18.0.254:5000"
#   registry-stop              stop it (`down` does too)
#   env                        print the path of the bed's env file
#
# <host> is h1..hN (or just the number).
#
# Environment:
#   TB_DIR          state directory (default /tmp/weft-testbed)
#   TB_NS_PREFIX    namespace name prefix for `up` (default tbw-); the
#                   underlay is <prefix>u, hosts <prefix>h1...
#   TB_MTU          underlay MTU for `up` (default 1500)
#   TB_DOCKERD_ARGS extra dockerd arguments for `up` (word-split), e.g.
#                   "--iptables=true" or "--insecure-registry 198.18.0.1:5000"
#   TB_IMAGE_BINS   binaries (with their libraries) added to busybox:local
#                   (default "iperf3")
#   TB_DOCKER_CLI   docker CLI (default /usr/bin/docker, Debian's 20.10)
#   TB_KEEP_ON_FAIL if 1, a failed `up` leaves its state for inspection
#   TB_RUN_SHARED   if 1, each daemon's private /run is a shared mount (as
#                   on systemd hosts; the managed plugin's "hostrun" mount
#                   needs it)
#   WEFT_BIN        directory holding weft-plugin (default <repo>/build/bin)
#
# Processes are found and stopped by pid (pid files, the hosts' network
# namespaces, their descendants and their cgroups), never by name.
set -euo pipefail

SELF="$(readlink -f "${BASH_SOURCE[0]}")"
REPO="$(cd "$(dirname "$SELF")/../.." && pwd)"
readonly SELF REPO
TB_DIR="${TB_DIR:-/tmp/weft-testbed}"
readonly MARKER=".weft-testbed"
readonly IMAGE="busybox:local"
readonly UNDERLAY_NET="198.18.0"
readonly REGISTRY_IP="$UNDERLAY_NET.254"
readonly REGISTRY_PORT=5000

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

# ---------------------------------------------------------------- up

build_image() {
  local out="$1" root="$TB_DIR/image/rootfs" bb
  bb="$(command -v busybox || true)"
  [[ -n $bb ]] || die "busybox not found (apt-get install busybox-static)"
  if ldd "$bb" >/dev/null 2>&1; then die "$bb is not statically linked (need busybox-static)"; fi
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,proc,sys,dev,var/run}
  chmod 1777 "$root/tmp"
  cp "$bb" "$root/bin/busybox"
  local l
  while read -r l; do
    [[ -n $l && ! -e $root/$l ]] && ln -s /bin/busybox "$root/$l"
  done < <("$bb" --list-full)
  local b p lib
  for b in ${TB_IMAGE_BINS-iperf3}; do
    p="$(command -v "$b" || true)"
    [[ -n $p ]] || die "image: binary '$b' not found"
    mkdir -p "$root/usr/bin"
    cp -L "$p" "$root/usr/bin/$(basename "$p")"
    while read -r lib; do
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    done < <(ldd "$p" | grep -oE '/[^ ]+' | sort -u)
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  tar -C "$root" -cf "$out" .
  rm -rf "$root"
}

write_env() {
  local n="$1" i h
  {
    echo "# weft test bed; source this file"
    printf 'TB_DIR=%q\n' "$TB_DIR"
    printf 'TB_NS_PREFIX=%q\n' "$TB_NS_PREFIX"
    printf 'TB_UNDERLAY_NS=%q\n' "${TB_NS_PREFIX}u"
    printf 'TB_N=%d\n' "$n"
    printf 'TB_MTU=%d\n' "$TB_MTU"
    printf 'TB_SUBNET=%q\n' "$UNDERLAY_NET.0/24"
    printf 'TB_IMAGE=%q\n' "$IMAGE"
    # (dockerd-start starts the daemon again with the same arguments)
    printf 'TB_DOCKERD_ARGS=%q\n' "${TB_DOCKERD_ARGS:-}"
    local hosts=()
    for ((i = 1; i <= n; i++)); do hosts+=("h$i"); done
    printf 'TB_HOSTS=%q\n' "${hosts[*]}"
    for ((i = 1; i <= n; i++)); do
      h="h$i"
      local d="$TB_DIR/$h"
      printf 'TB_%s_NS=%q\n' "$h" "${TB_NS_PREFIX}$h"
      printf 'TB_%s_NETNS=%q\n' "$h" "/run/netns/${TB_NS_PREFIX}$h"
      printf 'TB_%s_ADDR=%q\n' "$h" "$UNDERLAY_NET.$i"
      printf 'TB_%s_IFACE=eth0\n' "$h"
      printf 'TB_%s_DIR=%q\n' "$h" "$d"
      printf 'TB_%s_DOCKER_SOCK=%q\n' "$h" "$d/docker.sock"
      printf 'TB_%s_DOCKER_HOST=%q\n' "$h" "unix://$d/docker.sock"
      printf 'TB_%s_DOCKERD_PIDFILE=%q\n' "$h" "$d/dockerd.pid"
      printf 'TB_%s_CGROUP_PARENT=%q\n' "$h" "/${TB_NS_PREFIX}$h"
      printf 'TB_%s_PLUGIN_DIR=%q\n' "$h" "$d/plugins"
      printf 'TB_%s_WEFT_SOCK=%q\n' "$h" "$d/plugins/weft.sock"
      printf 'TB_%s_WEFT_STATE=%q\n' "$h" "$d/weft"
      printf 'TB_%s_WEFT_LOG=%q\n' "$h" "$d/weft.log"
      printf 'TB_%s_WEFT_PIDFILE=%q\n' "$h" "$d/weft.pid"
    done
  } >"$TB_DIR/env.tmp"
  mv "$TB_DIR/env.tmp" "$TB_DIR/env"
}

setup_underlay() {
  local n="$1" u="${TB_NS_PREFIX}u" i ns
  ip netns add "$u"
  ip -n "$u" link set lo up
  ip -n "$u" link add br0 mtu "$TB_MTU" type bridge stp_state 0 forward_delay 0 mcast_snooping 0
  ip -n "$u" link set br0 up
  for ((i = 1; i <= n; i++)); do
    ns="${TB_NS_PREFIX}h$i"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$u" link add "h$i" mtu "$TB_MTU" type veth peer name eth0 mtu "$TB_MTU" netns "$ns"
    ip -n "$u" link set "h$i" master br0 up
    ip -n "$ns" addr add "$UNDERLAY_NET.$i/24" dev eth0
    ip -n "$ns" link set eth0 up
  done
}

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
  exec dockerd \
    --data-root "$d/data" \
    --exec-root "$d/x" \
    --pidfile "$d/dockerd.pid" \
    -H "unix://$d/docker.sock" \
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

import_image() {
  local h="$1" sock
  sock="$(host_var "$h" DOCKER_SOCK)"
  DOCKER_CONFIG="$TB_DIR/cli" "$(docker_cli)" -H "unix://$sock" import \
    -c 'CMD ["sh"]' -c 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
    "$TB_DIR/image/busybox.tar" "$IMAGE" >/dev/null
}

cmd_up() {
  local n="${1:-}"
  if ! [[ $n =~ ^[0-9]+$ ]] || ((n < 1 || n > 250)); then die "usage: testbed.sh up N (1..250)"; fi
  [[ $(id -u) -eq 0 ]] || die "must run as root"
  TB_NS_PREFIX="${TB_NS_PREFIX:-tbw-}"
  TB_MTU="${TB_MTU:-1500}"
  [[ $TB_NS_PREFIX =~ ^[A-Za-z0-9_.-]{1,40}$ ]] || die "bad TB_NS_PREFIX '$TB_NS_PREFIX'"
  if ! [[ $TB_MTU =~ ^[0-9]+$ ]] || ((TB_MTU < 576 || TB_MTU > 65535)); then die "bad TB_MTU '$TB_MTU'"; fi
  check_tb_dir
  # The longest unix socket path of the bed (limit: 107 bytes).
  local longest="$TB_DIR/h$n/x/containerd/containerd.sock.ttrpc"
  ((${#longest} <= 107)) || die "TB_DIR too long: socket paths would exceed 107 bytes ($longest)"
  if [[ -e $TB_DIR ]]; then
    [[ -f $TB_DIR/$MARKER ]] && die "a test bed is already at $TB_DIR (run: testbed.sh down)"
    [[ -z $(ls -A "$TB_DIR") ]] || die "$TB_DIR exists and is not a test bed; refusing to use it"
  fi
  local ns
  while read -r ns; do
    [[ -e /run/netns/$ns ]] && die "namespace $ns already exists (another bed with prefix '$TB_NS_PREFIX'?)"
  done < <(TB_N=$n bed_ns_names)
  local t0
  t0=$(now_ms)
  mkdir -p "$TB_DIR" "$TB_DIR/cli" "$TB_DIR/image"
  # The marker comes first, so `down` can clean up whatever a failed `up` left.
  printf 'TB_NS_PREFIX=%q\nTB_N=%d\n' "$TB_NS_PREFIX" "$n" >"$TB_DIR/$MARKER"
  write_env "$n"
  # shellcheck disable=SC1091
  source "$TB_DIR/env"

  trap 'up_exit' EXIT
  setup_underlay "$n"
  local i h
  for ((i = 1; i <= n; i++)); do start_dockerd "h$i"; done
  build_image "$TB_DIR/image/busybox.tar"
  for ((i = 1; i <= n; i++)); do wait_dockerd "h$i"; done
  local pids=() rc=0
  for ((i = 1; i <= n; i++)); do
    import_image "h$i" &
    pids+=("$!")
  done
  for i in "${pids[@]}"; do wait "$i" || rc=1; done
  ((rc == 0)) || die "importing $IMAGE failed"
  rm -f "$TB_DIR/image/busybox.tar"
  UP_OK=1
  log "up: $n host(s) in $(($(now_ms) - t0)) ms; env: $TB_DIR/env"
}

UP_OK=0
up_exit() {
  local rc=$?
  trap - EXIT
  ((UP_OK)) && exit "$rc"
  log "up failed"
  if [[ ${TB_KEEP_ON_FAIL:-0} == 1 ]]; then
    log "TB_KEEP_ON_FAIL=1: state left at $TB_DIR; run testbed.sh down to clean up"
  else
    cmd_down || true
  fi
  exit 1
}

# ---------------------------------------------------------------- down

# Prints "pid ppid state" for every process.
proc_table() { ps -e -o pid=,ppid=,stat= 2>/dev/null || true; }

# pids of the bed's processes: members of the bed's network namespaces, pids
# from its pid files (if their command line names the bed), processes in the
# hosts' cgroups, and all descendants of those.
bed_pids() {
  local -A nsino=() seed=() out=()
  local f ino p line
  while read -r f; do
    f="/run/netns/$f"
    [[ -e $f ]] || continue
    ino="$(stat -L -c %i "$f" 2>/dev/null || true)"
    [[ -n $ino ]] && nsino[$ino]=1
  done < <(bed_ns_names)
  if ((${#nsino[@]})); then
    # stat -L follows /proc/<pid>/ns/net to the namespace inode.
    while read -r f ino; do
      [[ -n ${nsino[$ino]:-} ]] || continue
      p="${f#/proc/}"
      p="${p%%/*}"
      seed[$p]=1
    done < <(stat -L -c '%n %i' /proc/[0-9]*/ns/net 2>/dev/null || true)
  fi
  for f in "$TB_DIR"/h*/launcher.pid "$TB_DIR"/h*/dockerd.pid "$TB_DIR"/h*/weft.pid "$TB_DIR"/registry/registry.pid \
    "$TB_DIR"/h*/x/containerd/containerd.pid; do
    [[ -f $f ]] || continue
    p="$(cat "$f" 2>/dev/null || true)"
    [[ $p =~ ^[0-9]+$ ]] || continue
    if cmdline_has "$p" "$TB_DIR"; then
      seed[$p]=1
    fi
  done
  local cg
  while read -r cg; do
    while read -r p; do [[ -n $p ]] && seed[$p]=1; done \
      < <(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null || true)
  done < <(bed_cgroups)
  ((${#seed[@]})) || return 0
  # descendants
  local -A kids=()
  local pid ppid st
  while read -r pid ppid st; do
    [[ $st == Z* ]] && continue
    kids[$ppid]+="$pid "
  done < <(proc_table)
  local queue=("${!seed[@]}")
  while ((${#queue[@]})); do
    p="${queue[0]}"
    queue=("${queue[@]:1}")
    [[ -n ${out[$p]:-} ]] && continue
    [[ -d /proc/$p ]] || continue
    st="$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null || true)"
    [[ -z $st || $st == Z ]] && continue
    out[$p]=1
    for line in ${kids[$p]:-}; do queue+=("$line"); done
  done
  ((${#out[@]})) && printf '%s\n' "${!out[@]}"
  return 0
}

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

kill_bed_processes() {
  local pids p left
  for _ in 1 2 3 4 5; do
    mapfile -t pids < <(bed_pids)
    ((${#pids[@]})) || return 0
    # Freeze first so nothing restarts (dockerd restarts its containerd) or
    # forks while we kill; SIGKILL works on stopped processes.
    kill -STOP "${pids[@]}" 2>/dev/null || true
    mapfile -t pids < <(bed_pids)
    kill -STOP "${pids[@]}" 2>/dev/null || true
    kill -KILL "${pids[@]}" 2>/dev/null || true
    local deadline=$(($(now_ms) + 10000))
    while :; do
      left=0
      for p in "${pids[@]}"; do alive "$p" && left=1 && break; done
      ((left)) || break
      (($(now_ms) > deadline)) && break
      sleep 0.05
    done
  done
  mapfile -t pids < <(bed_pids)
  if ((${#pids[@]})); then
    log "down: processes survived: ${pids[*]}"
    return 1
  fi
}

remove_cgroups() {
  local cg d
  while read -r cg; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      while read -r d; do rmdir "$d" 2>/dev/null || true; done < <(find "$cg" -depth -type d 2>/dev/null)
      [[ -d $cg ]] || break
      sleep 0.1
    done
    [[ -d $cg ]] && log "down: could not remove cgroup $cg"
  done < <(bed_cgroups)
  return 0
}

bed_mounts() {
  local m
  findmnt -rn -o TARGET 2>/dev/null | grep -F -- "$TB_DIR" | while read -r m; do
    m="$(printf '%b' "$m")" # findmnt -r escapes odd characters as \xNN
    if [[ $m == "$TB_DIR" || $m == "$TB_DIR"/* ]]; then echo "$m"; fi
  done | sort -r
  return 0
}

unmount_bed() {
  local m mounts
  for _ in 1 2 3 4 5; do
    mapfile -t mounts < <(bed_mounts)
    ((${#mounts[@]})) || return 0
    for m in "${mounts[@]}"; do umount -n -l "$m" 2>/dev/null || true; done
  done
  mapfile -t mounts < <(bed_mounts)
  if ((${#mounts[@]})); then
    log "down: mounts left: ${mounts[*]}"
    return 1
  fi
}

cmd_down() {
  check_tb_dir
  local t0 rc=0
  t0=$(now_ms)
  if [[ -f $TB_DIR/$MARKER ]]; then
    # shellcheck disable=SC1090
    source "$TB_DIR/$MARKER"
  elif [[ -e $TB_DIR && -n $(ls -A "$TB_DIR" 2>/dev/null) ]]; then
    die "$TB_DIR is not a test bed (no $MARKER); refusing to touch it"
  fi
  # Nothing recorded (no marker): nothing of a bed can exist.
  TB_N="${TB_N:-0}"
  [[ $TB_N =~ ^[0-9]+$ ]] || die "bad TB_N '$TB_N' in $TB_DIR/$MARKER"
  TB_NS_PREFIX="${TB_NS_PREFIX:-tbw-}"
  [[ $TB_NS_PREFIX =~ ^[A-Za-z0-9_.-]{1,40}$ ]] || die "bad TB_NS_PREFIX '$TB_NS_PREFIX'"
  dbg "down: killing"
  kill_bed_processes || rc=1
  dbg "down: cgroups"
  remove_cgroups
  dbg "down: mounts"
  unmount_bed || rc=1
  dbg "down: namespaces"
  local f
  if ((rc == 0)); then
    while read -r f; do
      [[ -e /run/netns/$f ]] || continue
      ip netns del "$f" 2>/dev/null || { log "down: cannot delete netns $f"; rc=1; }
    done < <(bed_ns_names)
  fi
  # `ip netns add` creates /run/netns (a self bind mount) when missing:
  # remove it again once no namespace at all is left in it (`ip netns`
  # recreates it on demand). A plain umount fails if someone else adds a
  # namespace meanwhile, and so does rmdir.
  if ((rc == 0)) && [[ -d /run/netns && -z $(ls -A /run/netns) ]]; then
    if mountpoint -q /run/netns; then umount -n /run/netns 2>/dev/null || true; fi
    rmdir /run/netns 2>/dev/null || true
  fi
  dbg "down: files"
  if ((rc == 0)) && [[ -e $TB_DIR ]]; then
    local d rmpids=()
    for d in "$TB_DIR"/h*; do
      [[ -d $d ]] || continue
      rm -rf --one-file-system "$d" &
      rmpids+=("$!")
    done
    for d in "${rmpids[@]}"; do wait "$d" || true; done
    rm -rf --one-file-system "$TB_DIR" || { log "down: cannot remove $TB_DIR"; rc=1; }
  fi
  ((rc == 0)) || die "down: incomplete, see messages above (state kept at $TB_DIR)"
  log "down: done in $(($(now_ms) - t0)) ms"
}

# ---------------------------------------------------------------- weft

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
  echo "=== $(date -Is) weft-start $h: $bin $*" >>"$logf"
  # bash writes its own pid, then execs nsenter, which execs weft-plugin.
  # shellcheck disable=SC2016  # expanded by the inner bash
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$pf" \
    nsenter --net="/run/netns/$ns" -- \
    "$bin" --socket "$sock" --state-dir "$state" --advertise-addr "$addr" "$@" \
    </dev/null >>"$logf" 2>&1 &
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

# stop_signal [--kill] : the signal a stop command sends (TERM, or KILL).
stop_signal() {
  case "$1" in
    --kill) echo KILL ;;
    "") echo TERM ;;
    *) return 1 ;;
  esac
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
  kill "-$sig" "$p"
  local deadline=$(($(now_ms) + ${WEFT_STOP_TIMEOUT:-20} * 1000))
  while alive "$p"; do
    if (($(now_ms) > deadline)); then
      die "$h: weft-plugin (pid $p) still running ${WEFT_STOP_TIMEOUT:-20}s after SIG$sig"
    fi
    sleep 0.05
  done
  rm -f "$pf"
  log "$h: weft-plugin (pid $p) stopped with SIG$sig"
}

# ---------------------------------------------------------------- dockerd

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
    setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$d/mntns.pid" \
      nsenter -t "$p" -m -u --net="/run/netns/$ns" -- \
      bash -c 'exec -a "$0" sleep infinity' "tbw-mntns $d" </dev/null >/dev/null 2>&1 &
    local deadline=$(($(now_ms) + 5000))
    until hp="$(mntns_holder "$h")" && [[ $(readlink "/proc/$hp/ns/mnt") == "$(readlink "/proc/$p/ns/mnt")" ]]; do
      (($(now_ms) > deadline)) && die "$h: could not keep dockerd's mount namespace"
      sleep 0.05
    done
  fi
  kill "-$sig" "$p"
  local deadline=$(($(now_ms) + ${TB_DOCKERD_STOP_TIMEOUT:-120} * 1000))
  while alive "$p"; do
    (($(now_ms) > deadline)) && die "$h: dockerd (pid $p) still running ${TB_DOCKERD_STOP_TIMEOUT:-120}s after SIG$sig"
    sleep 0.05
  done
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

# ---------------------------------------------------------------- registry

registry_pid() {
  local pf="$TB_DIR/registry/registry.pid" p
  [[ -f $pf ]] || return 1
  p="$(cat "$pf")"
  [[ $p =~ ^[0-9]+$ ]] && alive "$p" && cmdline_has "$p" "$TB_DIR/registry" || return 1
  echo "$p"
}

# A registry (Debian's docker-registry, no auth, storage under $TB_DIR) in a
# namespace of its own, cabled to the underlay bridge like a host.
cmd_registry_start() {
  load_env
  local ns="${TB_NS_PREFIX}r" d="$TB_DIR/registry" addr="$REGISTRY_IP:$REGISTRY_PORT" p
  local bin
  bin="$(command -v docker-registry || true)"
  [[ -n $bin ]] || die "docker-registry not found (apt-get install docker-registry)"
  if p="$(registry_pid)"; then log "registry already running (pid $p) at $addr"; echo "$addr"; return 0; fi
  mkdir -p "$d/data"
  if [[ ! -e /run/netns/$ns ]]; then
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$TB_UNDERLAY_NS" link add reg mtu "$TB_MTU" type veth peer name eth0 mtu "$TB_MTU" netns "$ns"
    ip -n "$TB_UNDERLAY_NS" link set reg master br0 up
    ip -n "$ns" addr add "$REGISTRY_IP/24" dev eth0
    ip -n "$ns" link set eth0 up
  fi
  cat >"$d/config.yml" <<EOC
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $d/data
  delete:
    enabled: true
http:
  addr: $addr
EOC
  # shellcheck disable=SC2016  # expanded by the inner bash
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$d/registry.pid" \
    nsenter --net="/run/netns/$ns" -- "$bin" serve "$d/config.yml" \
    </dev/null >>"$d/registry.log" 2>&1 &
  local launcher=$! deadline
  deadline=$(($(now_ms) + 20000))
  until nsenter --net="/run/netns/$ns" -- curl -sf --max-time 1 "http://$addr/v2/" >/dev/null 2>&1; do
    if ! alive "$launcher"; then tail -n 20 "$d/registry.log" >&2 || true; die "registry exited"; fi
    (($(now_ms) > deadline)) && { tail -n 20 "$d/registry.log" >&2 || true; die "registry did not answer at $addr"; }
    sleep 0.1
  done
  grep -q '^TB_REGISTRY_ADDR=' "$TB_DIR/env" || printf 'TB_REGISTRY_ADDR=%q\nTB_REGISTRY_NS=%q\n' "$addr" "$ns" >>"$TB_DIR/env"
  log "registry running (pid $(cat "$d/registry.pid")) at $addr (netns $ns)"
  echo "$addr"
}

cmd_registry_stop() {
  load_env
  local ns="${TB_NS_PREFIX}r" p
  if p="$(registry_pid)"; then
    kill -TERM "$p"
    local deadline=$(($(now_ms) + 10000))
    while alive "$p"; do
      (($(now_ms) > deadline)) && { kill -KILL "$p" 2>/dev/null || true; }
      sleep 0.05
    done
  fi
  rm -f "$TB_DIR/registry/registry.pid"
  [[ -e /run/netns/$ns ]] && ip netns del "$ns"
  log "registry stopped"
}

# ---------------------------------------------------------------- misc

cmd_docker() {
  load_env
  local h
  h="$(norm_host "${1:-}")"
  shift
  DOCKER_CONFIG="$TB_DIR/cli" exec "$(docker_cli)" -H "$(host_var "$h" DOCKER_HOST)" "$@"
}

cmd_exec() {
  load_env
  local h
  h="$(norm_host "${1:-}")"
  shift
  (($#)) || die "usage: testbed.sh exec <host> <cmd...>"
  exec nsenter --net="$(host_var "$h" NETNS)" -- "$@"
}

cmd_link() {
  local state="$1"
  load_env
  local h
  h="$(norm_host "${2:-}")"
  host_var "$h" NS >/dev/null
  # The bridge side of the host's cable: the host keeps its address and
  # sees carrier loss, as when a cable is pulled.
  ip -n "$TB_UNDERLAY_NS" link set "$h" "$state"
}

cmd_status() {
  load_env
  printf 'test bed %s: %d host(s), underlay %s (netns %s), mtu %s\n' \
    "$TB_DIR" "$TB_N" "$TB_SUBNET" "$TB_UNDERLAY_NS" "$TB_MTU"
  printf '%-4s %-18s %-13s %-5s %-9s %-11s %-9s %-10s %s\n' \
    HOST NETNS ADDR LINK DOCKERD CONTAINERD WEFT CONTAINERS DOCKER_HOST
  local h d p dp cp wp link ctr
  for h in $TB_HOSTS; do
    d="$(host_var "$h" DIR)"
    dp=-; cp=-; wp=-; ctr=-
    p="$(cat "$d/launcher.pid" 2>/dev/null || true)"
    [[ -n $p ]] && alive "$p" && dp="$p"
    p="$(cat "$d/x/containerd/containerd.pid" 2>/dev/null || true)"
    [[ -n $p ]] && alive "$p" && cp="$p"
    wp="$(weft_pid "$h" || echo -)"
    link="$(ip -n "$TB_UNDERLAY_NS" -o link show "$h" 2>/dev/null | grep -q 'state UP' && echo up || echo down)"
    if [[ $dp != - ]]; then
      ctr="$(DOCKER_CONFIG="$TB_DIR/cli" "$(docker_cli)" -H "$(host_var "$h" DOCKER_HOST)" ps -q 2>/dev/null | wc -l || echo '?')"
    fi
    printf '%-4s %-18s %-13s %-5s %-9s %-11s %-9s %-10s %s\n' \
      "$h" "$(host_var "$h" NS)" "$(host_var "$h" ADDR)" "$link" "$dp" "$cp" "$wp" "$ctr" "$(host_var "$h" DOCKER_HOST)"
  done
}

usage() { sed -n '2,/^set -euo/p' "$SELF" | sed -e '$d' -e 's/^# \{0,1\}//'; }

main() {
  local cmd="${1:-}"
  (($#)) && shift
  case "$cmd" in
    up) cmd_up "$@" ;;
    down) cmd_down ;;
    docker) check_tb_dir; cmd_docker "$@" ;;
    exec) check_tb_dir; cmd_exec "$@" ;;
    weft-start) check_tb_dir; cmd_weft_start "$@" ;;
    weft-stop) check_tb_dir; cmd_weft_stop "$@" ;;
    dockerd-stop) check_tb_dir; cmd_dockerd_stop "$@" ;;
    dockerd-start) check_tb_dir; cmd_dockerd_start "$@" ;;
    link-down) check_tb_dir; cmd_link down "$@" ;;
    link-up) check_tb_dir; cmd_link up "$@" ;;
    status) check_tb_dir; cmd_status ;;
    registry-start) check_tb_dir; cmd_registry_start ;;
    registry-stop) check_tb_dir; cmd_registry_stop ;;
    env) check_tb_dir; load_env; echo "$TB_DIR/env" ;;
    __dockerd) inner_dockerd "$@" ;;
    __dockerd_again) load_env; exec_dockerd "$@" ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
