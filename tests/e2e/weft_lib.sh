# shellcheck shell=bash
# Helpers shared by weft's Docker end-to-end tests (source after lib.sh).
# Most take the bed HOST (h1, h2, ...) they talk to as their first argument
# (the *_on forms); a few for the single-host tests talk to h1.
# Variables such as TB_h1_WEFT_STATE come from the bed's env file:
# shellcheck disable=SC2154

WEFT_PLUGIN_BIN="${WEFT_BIN:-$E2E_REPO/build/bin}/weft-plugin"

# e2e_require_weft : skips unless the things these tests need are here.
e2e_require_weft() {
  e2e_require_root
  e2e_require_cmd dockerd containerd runc busybox ip nsenter unshare curl findmnt jq
  [[ -x $WEFT_PLUGIN_BIN ]] || e2e_skip "no $WEFT_PLUGIN_BIN (build it: ninja -C build weft-plugin)"
}

# weft_bed_up N [weft-plugin args...] : a bed of N hosts with weft on h1.
weft_bed_up() {
  local n="$1"
  shift
  e2e_bed_up "$n"
  time_it "weft-start h1" tb weft-start h1 "$@" >/dev/null || fail "weft-start h1 failed"
}

# host_ip ARGS... : `ip ARGS` in h1's network namespace.
host_ip() { ip -n "$TB_h1_NS" "$@"; }

# Names (only) of the links in h1's network namespace.
host_links() { host_ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort; }

# weft_leftovers : prints whatever weft left in h1's host namespace, its
# state dir and the mount table; nothing when all is clean.
weft_leftovers() {
  host_links | grep -E '^(wx-|wh|ws)' | sed 's/^/host link: /' || true
  find "$TB_h1_WEFT_STATE/netns" -mindepth 1 2>/dev/null | sed 's/^/netns file: /' || true
  findmnt -rn -o TARGET | grep -F "$TB_h1_WEFT_STATE/" | sed 's/^/mount: /' || true
  findmnt -rn -o TARGET,FSTYPE | awk '$2 == "nsfs"' | grep -F "$TB_DIR/" | grep -F '/weft-' |
    sed 's/^/nsfs mount: /' || true
}

# ip_frag_creates CONTAINER : the container's IP FragCreates counter (how many
# fragments its stack made), on h1.
ip_frag_creates() {
  tb_docker h1 exec "$1" cat /proc/net/snmp | awk '$1 == "Ip:" && !h {for (i = 1; i <= NF; i++) col[$i] = i; h = 1; next}
                                       $1 == "Ip:" {print $col["FragCreates"]}'
}

# http_body FROM IP : what the busybox httpd at IP:80 serves, fetched from
# container FROM on h1 (with nc: busybox-static's wget crashes in these images).
http_body() {
  tb_docker h1 exec "$1" sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 2 $2 80" | tr -d '\r' | tail -n 1
}
# http_body_is FROM IP WANT : succeeds when it is WANT (for wait_until).
http_body_is() {
  local got
  got="$(http_body "$1" "$2")"
  [[ $got == "$3" ]] || { echo "got '$got'"; return 1; }
}

# ---------------------------------------------------------------- any host
# Helpers for any host of the bed (h1..hN); with weft on several hosts they
# are joined by gossip. HOST is a bed host name (h1, h2, ...).

WEFTCTL_BIN="${WEFT_BIN:-$E2E_REPO/build/bin}/weftctl"
WEFT_GOSSIP_BIN="${WEFT_BIN:-$E2E_REPO/build/bin}/weft-gossip"

# e2e_require_multihost : like e2e_require_weft, plus weft-gossip and weftctl.
e2e_require_multihost() {
  e2e_require_weft
  [[ -x $WEFT_GOSSIP_BIN ]] || e2e_skip "no $WEFT_GOSSIP_BIN (build it: ninja -C build weft-gossip)"
  [[ -x $WEFTCTL_BIN ]] || e2e_skip "no $WEFTCTL_BIN (build it: ninja -C build weftctl)"
}

# hvar HOST NAME : the bed's TB_<HOST>_<NAME> (e.g. hvar h2 WEFT_SOCK).
hvar() { local v="TB_${1}_$2"; echo "${!v:?no $v in the bed env}"; }
# haddr HOST : the host's underlay address (its gossip id and VTEP).
haddr() { hvar "$1" ADDR; }

# dh HOST ARGS... : docker on HOST, bounded in time (a wedged daemon fails the
# test instead of hanging it; tb_docker HOST is the unbounded form).
dh() {
  local h="$1"
  shift
  timeout "${E2E_DOCKER_TIMEOUT:-60}" "$TESTBED" docker "$h" "$@"
}
# run_ctr_on HOST NAME NETWORK [docker run args...] : a container that sleeps.
run_ctr_on() {
  local h="$1" name="$2" net="$3"
  shift 3
  assert_ok dh "$h" run -d --name "$name" --network "$net" "$@" busybox:local sleep 3600
}
# ctr_ip_on HOST CONTAINER NETWORK ; ctr_mac_on HOST CONTAINER NETWORK ;
# ep_id_on HOST CONTAINER NETWORK
ctr_ip_on() { dh "$1" inspect -f "{{(index .NetworkSettings.Networks \"$3\").IPAddress}}" "$2"; }
ctr_mac_on() { dh "$1" inspect -f "{{(index .NetworkSettings.Networks \"$3\").MacAddress}}" "$2"; }
ep_id_on() { dh "$1" inspect -f "{{(index .NetworkSettings.Networks \"$3\").EndpointID}}" "$2"; }

# ping_ok_on HOST FROM TARGET [COUNT] : container FROM on HOST reaches TARGET.
ping_ok_on() {
  local n="${4:-2}"
  assert_ok dh "$1" exec "$2" ping -c "$n" -i 0.2 -W 2 "$3"
  assert_contains "$E2E_OUT" "$n packets received" "$1/$2 -> $3"
}
# ping_fails_on HOST FROM TARGET : no answer at all.
ping_fails_on() {
  assert_fails dh "$1" exec "$2" ping -c 2 -i 0.2 -W 1 "$3"
  assert_contains "$E2E_OUT" "0 packets received" "$1/$2 -> $3 must not get answers"
}
# pings HOST FROM TARGET : succeeds when one ping is answered (for wait_until).
pings() { dh "$1" exec "$2" ping -c 1 -W 1 "$3"; }

# weftctl_on HOST ARGS... : weftctl against HOST's plugin.
weftctl_on() {
  local h="$1"
  shift
  timeout 10 "$WEFTCTL_BIN" --socket "$(hvar "$h" WEFT_SOCK)" "$@"
}
# peers_json HOST : `weftctl --json peers` of HOST.
peers_json() { weftctl_on "$1" --json peers; }
# member_state HOST ID : the state (alive/suspect/dead/left) of member ID in
# HOST's view; "none" when HOST does not list it.
member_state() {
  peers_json "$1" | jq -r --arg id "$2" '[.gossip.members[] | select(.id == $id) | .state][0] // "none"'
}
# member_state_is HOST ID STATE... : ID's state in HOST's view is one of
# STATEs (for wait_until).
member_state_is() {
  local h="$1" id="$2" s want
  shift 2
  s="$(member_state "$h" "$id")" || return 1
  for want in "$@"; do [[ $s == "$want" ]] && return 0; done
  echo "$h sees $id as $s, want one of: $*"
  return 1
}
# remote_ips HOST : the IPv4 addresses of the remote endpoints HOST has
# programmed, sorted, one a line.
remote_ips() { peers_json "$1" | jq -r '.remoteEndpoints[].ipv4 | sub("/.*"; "")' | sort; }
# remote_vteps HOST : the VTEPs of those remote endpoints, sorted, unique.
remote_vteps() { peers_json "$1" | jq -r '.remoteEndpoints[].vtep' | sort -u; }
# has_remote HOST IP / lacks_remote HOST IP (for wait_until)
has_remote() {
  local r
  r="$(remote_ips "$1")" || return 1
  grep -qxF "$2" <<<"$r" || { echo "$1 has no remote endpoint $2 (has: ${r//$'\n'/ })"; return 1; }
}
lacks_remote() {
  local r
  r="$(remote_ips "$1")" || return 1
  ! grep -qxF "$2" <<<"$r" || { echo "$1 still has remote endpoint $2"; return 1; }
}
# gossip_restarts HOST : how often HOST's plugin restarted its sidecar.
gossip_restarts() { peers_json "$1" | jq -r '.gossip.restarts'; }
# auth_failures HOST FROM_ADDR : packets from FROM_ADDR that failed
# authentication at HOST (0 when none).
auth_failures() { peers_json "$1" | jq -r --arg a "$2" '.gossip.authFailuresByHost[$a] // 0'; }
# alive_members HOST : ids of the members HOST sees alive.
alive_members() { peers_json "$1" | jq -r '.gossip.members[] | select(.state == "alive") | .id'; }

# weft_pid_on HOST : pid of HOST's weft-plugin.
weft_pid_on() { cat "$(hvar "$1" WEFT_PIDFILE)"; }
# gossip_pid_on HOST : pid of HOST's weft-gossip sidecar: the child of HOST's
# weft-plugin whose executable is weft-gossip (never found by name alone).
gossip_pid_on() {
  local pp p
  pp="$(weft_pid_on "$1")"
  for p in $(ps -o pid= --ppid "$pp"); do
    [[ $(readlink "/proc/$p/exe" 2>/dev/null) == */weft-gossip ]] && { echo "$p"; return 0; }
  done
  echo "no weft-gossip child of weft-plugin $pp on $1" >&2
  return 1
}
# gossip_running_on HOST : the sidecar runs and answers (for wait_until).
gossip_running_on() { [[ $(peers_json "$1" | jq -r '.gossip.running') == true ]]; }

# net_id_on HOST NETWORK ; netns_on HOST NETWORK : the network's sandbox there.
net_id_on() { dh "$1" network inspect -f '{{.Id}}' "$2"; }
netns_on() { echo "$(hvar "$1" WEFT_STATE)/netns/weft-$(net_id_on "$1" "$2" | cut -c1-12)"; }
# in_sandbox HOST NETWORK CMD... : CMD inside the network's sandbox on HOST.
in_sandbox() {
  local f
  f="$(netns_on "$1" "$2")"
  shift 2
  nsenter --net="$f" "$@"
}
# vtep_on HOST NETWORK : name of the network's VTEP (wx-...) on HOST.
vtep_on() { in_sandbox "$1" "$2" ip -o link show type vxlan | awk -F': ' '{print $2}' | sed 's/@.*//'; }
# sandbox_neigh HOST NETWORK : "IP MAC" of the permanent neighbour entries on
# the VTEP. sandbox_fdb HOST NETWORK : "MAC DST" of its FDB entries with a dst.
sandbox_neigh() {
  in_sandbox "$1" "$2" ip neigh show dev "$(vtep_on "$1" "$2")" nud permanent | awk '{print $1, $3}' | sort
}
sandbox_fdb() {
  in_sandbox "$1" "$2" bridge fdb show dev "$(vtep_on "$1" "$2")" | awk '$2 == "dst" {print $1, $3}' | sort
}
# has_peer_entries HOST NETWORK IP MAC VTEP : HOST's sandbox has the neighbour
# entry IP -> MAC and the FDB entry MAC -> VTEP, and the flood entry for VTEP.
has_peer_entries() {
  local n f
  n="$(sandbox_neigh "$1" "$2")"
  f="$(sandbox_fdb "$1" "$2")"
  grep -qxF "$3 $4" <<<"$n" || { echo "$1: no neighbour $3 $4 in:"$'\n'"$n"; return 1; }
  grep -qxF "$4 $5" <<<"$f" || { echo "$1: no fdb $4 dst $5 in:"$'\n'"$f"; return 1; }
  grep -qxF "00:00:00:00:00:00 $5" <<<"$f" || { echo "$1: no flood entry for $5 in:"$'\n'"$f"; return 1; }
}
# lacks_peer_entries HOST NETWORK IP MAC : neither neighbour nor FDB entry
# for that endpoint is left.
lacks_peer_entries() {
  local n f
  n="$(sandbox_neigh "$1" "$2")"
  f="$(sandbox_fdb "$1" "$2")"
  ! grep -q "^$3 " <<<"$n" || { echo "$1: neighbour for $3 left:"$'\n'"$n"; return 1; }
  ! grep -q "^$4 " <<<"$f" || { echo "$1: fdb entry for $4 left:"$'\n'"$f"; return 1; }
}
# has_flood HOST NETWORK VTEP / lacks_flood HOST NETWORK VTEP
has_flood() {
  local f
  f="$(sandbox_fdb "$1" "$2")" || return 1
  grep -qxF "00:00:00:00:00:00 $3" <<<"$f" || { echo "$1: no flood entry for $3 in:"$'\n'"$f"; return 1; }
}
lacks_flood() {
  local f
  f="$(sandbox_fdb "$1" "$2")" || return 1
  ! grep -qxF "00:00:00:00:00:00 $3" <<<"$f" || { echo "$1: flood entry for $3 left"; return 1; }
}
# no_entries_for_vtep HOST NETWORK VTEP : nothing on HOST points at VTEP.
no_entries_for_vtep() {
  local f
  f="$(sandbox_fdb "$1" "$2")"
  ! grep -q " $3\$" <<<"$f" || { echo "$1: fdb entries towards $3 left:"$'\n'"$f"; return 1; }
}

# weft_start_on HOST KEY [more weft-plugin args...] : weft on HOST, multi-host
# with seed h1 (198.18.0.1) unless --peers is among the args.
weft_start_on() {
  local h="$1" key="$2"
  shift 2
  local args=("$@")
  [[ " ${args[*]} " == *" --peers "* ]] || args=(--peers "$TB_h1_ADDR" "${args[@]}")
  time_it "weft-start $h" assert_ok tb weft-start "$h" --key "$key" "${args[@]}"
}
# new_cluster_key : 32 random bytes, base64.
new_cluster_key() { head -c 32 /dev/urandom | base64; }

# ---------------------------------------------------------------- multi-host tests
# (Tests set HOSTS=(h1 h2 h3) before using these.)
# converged HOST... : each HOST sees every other host of the bed alive.
converged() {
  local h o
  for h in "$@"; do
    for o in "${HOSTS[@]}"; do
      [[ $o == "$h" ]] && continue
      member_state_is "$h" "$(haddr "$o")" alive || return 1
    done
  done
}
declare -A IP MAC HOST_OF
# ctr HOST NAME : starts container NAME on HOST on n1 and notes its IP and MAC.
# shellcheck disable=SC2034  # IP, MAC and HOST_OF are read by the tests
ctr() {
  run_ctr_on "$1" "$2" n1
  IP[$2]="$(ctr_ip_on "$1" "$2" n1)"
  MAC[$2]="$(ctr_mac_on "$1" "$2" n1)"
  HOST_OF[$2]="$1"
}
# show_peers_on_failure : on a failed test, print every host's weftctl peers.
show_peers_on_failure() {
  # shellcheck disable=SC2016  # expanded when the hook runs
  e2e_on_exit eval '((E2E_RC == 0)) || for h in "${HOSTS[@]}"; do echo "---- weftctl peers on $h" >&2; weftctl_on $h peers >&2; done'
}
