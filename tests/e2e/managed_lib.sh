# shellcheck shell=bash
# Helpers shared by the managed-plugin end-to-end tests (managed_plugin.sh,
# managed_swarm_failover.sh). Source after lib.sh and weft_lib.sh and before
# e2e_bed_up: it sets the daemons' arguments (a registry in the bed, a shared
# /run as on systemd hosts).
# Variables such as TB_h1_DOCKER_HOST come from the bed's env file:
# shellcheck disable=SC2154

REG_ADDR=198.18.0.254:5000 # testbed.sh registry-start
export TB_DOCKERD_ARGS="--insecure-registry $REG_ADDR${TB_DOCKERD_ARGS:+ $TB_DOCKERD_ARGS}"
export TB_RUN_SHARED=1 # the daemons' /run is shared, as on systemd hosts
CACHE="${WEFT_IMAGE_CACHE:-/var/cache/weft-images}"
export E2E_DOCKER_TIMEOUT=120
E2E_TIMINGS="$(mktemp /tmp/weft-e2e-timings.XXXXXX)"
export E2E_TIMINGS
e2e_on_exit rm -f "$E2E_TIMINGS"

# managed_require : skips unless what these tests need is here.
managed_require() {
  e2e_require_root
  e2e_require_cmd dockerd containerd runc busybox ip nsenter unshare curl jq tar flock debootstrap docker-registry
  [[ -x $WEFTCTL_BIN ]] || e2e_skip "no $WEFTCTL_BIN (build it: ninja -C build weftctl)"
}

# The managed plugin's socket on HOST, as the root mount namespace sees it:
# <plugin dir>/<64-hex id>/weft.sock is longer than a unix socket path may
# be, so through a short symlink to the directory.
psock() {
  local l="$E2E_BED_PARENT/p$1"
  ln -sfn "$(hvar "$1" PLUGIN_DIR)/$(dh "$1" plugin inspect -f '{{.Id}}' weft)" "$l"
  echo "$l/weft.sock"
}
# wctl HOST ARGS... : weftctl against HOST's managed plugin.
wctl() {
  local h="$1"
  shift
  timeout 10 "$WEFTCTL_BIN" --socket "$(psock "$h")" "$@"
}
# pid of HOST's weft-plugin: shim (by the plugin's full id) -> entry -> weft-plugin.
plugin_pid() {
  local id shim entry p
  id="$(dh "$1" plugin inspect -f '{{.Id}}' weft)"
  shim="$(pgrep -f -- "-id $id( |\$)" | head -n1)" || return 1
  entry="$(pgrep -P "$shim" | head -n1)" || return 1
  for p in $(pgrep -P "$entry"); do
    [[ $(readlink "/proc/$p/exe") == */weft-plugin ]] && { echo "$p"; return 0; }
  done
  return 1
}
# cluster_formed : every host of HOSTS sees every other one alive.
cluster_formed() {
  local h o st
  for h in "${HOSTS[@]}"; do
    for o in "${HOSTS[@]}"; do
      [[ $h == "$o" ]] && continue
      st="$(wctl "$h" --json peers | jq -r --arg id "$(haddr "$o")" '[.gossip.members[] | select(.id == $id) | .state][0] // "none"')"
      [[ $st == alive ]] || { echo "$h sees $o as $st"; return 1; }
    done
  done
}
socket_answers() { wctl "$1" --json status >/dev/null; }

# managed_build_push : a registry in the bed; the plugin built on h1 from the
# Dockerfile (offline; the rootfs is reused from CACHE when its inputs are
# unchanged, unless WEFT_E2E_PLUGIN_REBUILD=1), pushed as $REG_ADDR/weft:1
# and removed from h1 again. Leaves the plugin directory in $PDIR.
PDIR=""
managed_build_push() {
  local reg cache_args=(--cache "$CACHE")
  reg="$(tb registry-start)"
  assert_eq "$REG_ADDR" "$reg" "registry address"
  [[ ${WEFT_E2E_PLUGIN_REBUILD:-0} == 1 ]] && cache_args=()
  PDIR="$E2E_BED_PARENT/plugin"
  time_it "build+push $REG_ADDR/weft:1" \
    env DOCKER_HOST="$TB_h1_DOCKER_HOST" DOCKER_CONFIG="$TB_DIR/cli" DOCKER="${TB_DOCKER_CLI:-/usr/bin/docker}" \
    WEFT_IMAGE_CACHE="$CACHE" "$E2E_REPO/packaging/build-plugin.sh" \
    --offline --network none "${cache_args[@]}" --push --keep-dir "$PDIR" "$REG_ADDR/weft:1" >/dev/null ||
    fail "build-plugin.sh failed"
  assert_ok dh h1 plugin rm "$REG_ADDR/weft:1"
}

# managed_install HOST... : installs $REG_ADDR/weft:1 (disabled, alias weft).
managed_install() {
  local h
  for h in "$@"; do
    time_it "install $h" assert_ok dh "$h" plugin install --grant-all-permissions --disable --alias weft "$REG_ADDR/weft:1"
  done
}

# ---------------------------------------------------------------- swarm
# task_on HOST SVC : id of a running container of service SVC on HOST.
task_on() {
  local c
  c="$(dh "$1" ps -q -f "label=com.docker.swarm.service.name=$2" -f status=running | head -n1)"
  [[ -n $c ]] || { echo "no running task of $2 on $1" >&2; return 1; }
  echo "$c"
}
# svc_on_hosts SVC HOST... : SVC has a running task on each HOST (for wait_until).
svc_on_hosts() {
  local svc="$1" h running
  shift
  running="$(dh "$MGR" service ps "$svc" -f desired-state=running --format '{{.Node}} {{.CurrentState}}' |
    awk '$2 == "Running" {print $1}' | sort -u)"
  for h in "$@"; do
    grep -qxF "$h" <<<"$running" || { echo "$svc: no running task on $h (running on: ${running//$'\n'/ })"; return 1; }
  done
}
# resolves HOST CTR NAME IP... : NAME, looked up with Docker's embedded DNS
# in container CTR on HOST, gives every IP (for wait_until).
resolves() {
  local h="$1" c="$2" name="$3" out ip
  shift 3
  out="$(dh "$h" exec "$c" nslookup "$name" 127.0.0.11 2>&1)" || { echo "$out"; return 1; }
  for ip in "$@"; do
    grep -oE '([0-9]{1,3}\.){3}[0-9]{1,3}' <<<"$out" | grep -qxF "$ip" || { echo "$name lacks $ip: $out"; return 1; }
  done
}
