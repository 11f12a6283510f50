# shellcheck shell=bash
# testbed.sh: the hosts and their underlay -- `up` (the env file, the
# underlay bridge and one namespace per host, then the daemons and the
# image), `exec`, `link-down`/`link-up`.

write_env() {
  local n="$1" i h
  {
    echo "# weft test bed; source this file"
    printf 'TB_DIR=%q\n' "$TB_DIR"
    printf 'TB_NS_PREFIX=%q\n' "$TB_NS_PREFIX"
    printf 'TB_UNDERLAY_NS=%q\n' "${TB_NS_PREFIX}u"
    printf 'TB_N=%d\n' "$n"
    printf 'TB_MTU=%d\n' "$TB_MTU"
    printf 'TB_UNDERLAY=%q\n' "$TB_UNDERLAY"
    printf 'TB_SUBNET=%q\n' "$(underlay_subnet)"
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
      printf 'TB_%s_ADDR=%q\n' "$h" "$(underlay_addr "$i")"
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

# The underlay's family (TB_UNDERLAY): ipv4 (default) puts host i at
# 198.18.0.i/24; ipv6 gives it fd18::i/64 (a ULA, inside the bed's
# namespaces only) and no IPv4 address at all -- an IPv6-only underlay.
underlay_addr() { if [[ $TB_UNDERLAY == ipv6 ]]; then echo "${UNDERLAY_NET6}::$1"; else echo "$UNDERLAY_NET.$1"; fi; }
underlay_subnet() { if [[ $TB_UNDERLAY == ipv6 ]]; then echo "${UNDERLAY_NET6}::/64"; else echo "$UNDERLAY_NET.0/24"; fi; }

# cable_ns NS PORT ADDR : a new namespace NS with loopback up and eth0
# (ADDR in the underlay subnet, MTU TB_MTU) cabled to port PORT of the
# underlay bridge.
cable_ns() {
  local ns="$1" port="$2" addr="$3" u="${TB_NS_PREFIX}u"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$u" link add "$port" mtu "$TB_MTU" type veth peer name eth0 mtu "$TB_MTU" netns "$ns"
  ip -n "$u" link set "$port" master br0 up
  if [[ $addr == *:* ]]; then
    # nodad: usable at once (the bed's addresses are unique by construction)
    ip -n "$ns" addr add "$addr/64" dev eth0 nodad
  else
    ip -n "$ns" addr add "$addr/24" dev eth0
  fi
  ip -n "$ns" link set eth0 up
}

setup_underlay() {
  local n="$1" u="${TB_NS_PREFIX}u" i
  ip netns add "$u"
  ip -n "$u" link set lo up
  ip -n "$u" link add br0 mtu "$TB_MTU" type bridge stp_state 0 forward_delay 0 mcast_snooping 0
  ip -n "$u" link set br0 up
  for ((i = 1; i <= n; i++)); do cable_ns "${TB_NS_PREFIX}h$i" "h$i" "$(underlay_addr "$i")"; done
}

cmd_up() {
  local n="${1:-}"
  if ! [[ $n =~ ^[0-9]+$ ]] || ((n < 1 || n > 250)); then die "usage: testbed.sh up N (1..250)"; fi
  [[ $(id -u) -eq 0 ]] || die "must run as root"
  TB_NS_PREFIX="${TB_NS_PREFIX:-tbw-}"
  TB_MTU="${TB_MTU:-1500}"
  TB_UNDERLAY="${TB_UNDERLAY:-ipv4}"
  [[ $TB_UNDERLAY == ipv4 || $TB_UNDERLAY == ipv6 ]] || die "bad TB_UNDERLAY '$TB_UNDERLAY' (ipv4 or ipv6)"
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
