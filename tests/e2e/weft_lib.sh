# shellcheck shell=bash
# Helpers shared by weft's Docker end-to-end tests (source after lib.sh).
# Everything here talks to host h1 of the test's bed unless told otherwise.
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

d1() { tb_docker h1 "$@"; }

# Docker with a bound on time: a wedged daemon fails the test instead of
# hanging it.
d1t() { timeout "${E2E_DOCKER_TIMEOUT:-60}" "$TESTBED" docker h1 "$@"; }

net_id() { d1 network inspect -f '{{.Id}}' "$1"; }
# netns_file NETWORK : the bind-mounted sandbox namespace of a network.
netns_file() { echo "$TB_h1_WEFT_STATE/netns/weft-$(net_id "$1" | cut -c1-12)"; }
# ctr_ip CONTAINER NETWORK
ctr_ip() { d1 inspect -f "{{(index .NetworkSettings.Networks \"$2\").IPAddress}}" "$1"; }
# ep_id CONTAINER NETWORK
ep_id() { d1 inspect -f "{{(index .NetworkSettings.Networks \"$2\").EndpointID}}" "$1"; }
# run_ctr NAME NETWORK [docker run args...] : a container that sleeps.
run_ctr() {
  local name="$1" net="$2"
  shift 2
  assert_ok d1t run -d --name "$name" --network "$net" "$@" busybox:local sleep 3600
}

# ping_ok FROM TARGET [COUNT] : FROM reaches TARGET, every packet answered.
ping_ok() {
  local n="${3:-3}"
  assert_ok d1t exec "$1" ping -c "$n" -i 0.2 -W 2 "$2"
  assert_contains "$E2E_OUT" "$n packets received" "$1 -> $2"
}
# ping_fails FROM TARGET : no answer at all.
ping_fails() {
  assert_fails d1t exec "$1" ping -c 2 -i 0.2 -W 1 "$2"
  assert_contains "$E2E_OUT" "0 packets received" "$1 -> $2 must not get answers"
}

# sandbox_ip NETWORK ARGS... : `ip ARGS` inside the network's sandbox.
sandbox_ip() {
  local f
  f="$(netns_file "$1")"
  shift
  nsenter --net="$f" ip "$@"
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
# fragments its stack made).
ip_frag_creates() {
  d1 exec "$1" cat /proc/net/snmp | awk '$1 == "Ip:" && !h {for (i = 1; i <= NF; i++) col[$i] = i; h = 1; next}
                                       $1 == "Ip:" {print $col["FragCreates"]}'
}

# weft_pid : pid of h1's weft-plugin.
weft_pid() { cat "$TB_h1_WEFT_PIDFILE"; }

# http_body FROM IP : what the busybox httpd at IP:80 serves, fetched from
# container FROM (with nc: busybox-static's wget crashes in these images).
http_body() {
  d1 exec "$1" sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 2 $2 80" | tr -d '\r' | tail -n 1
}
# http_body_is FROM IP WANT : succeeds when it is WANT (for wait_until).
http_body_is() {
  local got
  got="$(http_body "$1" "$2")"
  [[ $got == "$3" ]] || { echo "got '$got'"; return 1; }
}
