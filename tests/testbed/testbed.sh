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
#   TB_UNDERLAY     underlay family for `up`: ipv4 (default; 198.18.0.i/24)
#                   or ipv6 (fd18::i/64 and no IPv4 address on the hosts;
#                   registry-start needs ipv4)
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
# (This file is the command line; its parts live in tests/testbed/lib/, one
# concern each.)

SELF="$(readlink -f "${BASH_SOURCE[0]}")"
REPO="$(cd "$(dirname "$SELF")/../.." && pwd)"
readonly SELF REPO
TB_DIR="${TB_DIR:-/tmp/weft-testbed}"
readonly MARKER=".weft-testbed"
readonly IMAGE="busybox:local"
readonly UNDERLAY_NET="198.18.0"
readonly UNDERLAY_NET6="fd18" # TB_UNDERLAY=ipv6: fd18::/64
readonly REGISTRY_IP="$UNDERLAY_NET.254"
readonly REGISTRY_PORT=5000

LIB="$(dirname "$SELF")/lib"
readonly LIB
# shellcheck source=tests/testbed/lib/common.sh
source "$LIB/common.sh"   # messages, time, TB_DIR, the env file, host names, process checks
# shellcheck source=tests/testbed/lib/hosts.sh
source "$LIB/hosts.sh"    # up: env file, underlay, host namespaces; exec, link-down/up
# shellcheck source=tests/testbed/lib/image.sh
source "$LIB/image.sh"    # busybox:local
# shellcheck source=tests/testbed/lib/dockerd.sh
source "$LIB/dockerd.sh"  # each host's dockerd; dockerd-stop/start, docker
# shellcheck source=tests/testbed/lib/weft.sh
source "$LIB/weft.sh"     # weft-start, weft-stop
# shellcheck source=tests/testbed/lib/registry.sh
source "$LIB/registry.sh" # registry-start, registry-stop
# shellcheck source=tests/testbed/lib/teardown.sh
source "$LIB/teardown.sh" # down

# ---------------------------------------------------------------- status

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
