#!/usr/bin/env bash
# Self-test of the test bed (tests/testbed/testbed.sh): two real dockerd
# hosts, containers on each, underlay reachability, per-host isolation of
# daemons and plugin directories, link-down/up, dockerd-stop/start,
# weft-start/stop (against a stand-in plugin), a clean `down` -- and a `down`
# after a failed `up`.
# TB_h1_ADDR and friends come from the bed's env file:
# shellcheck disable=SC2154
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_require_root
e2e_require_cmd dockerd containerd runc busybox ip nsenter unshare curl findmnt

# ---- what the machine looks like before
root_links_before="$(ip -o link show | awk -F': ' '{print $2}' | sort)"
run_netns_existed=0
[[ -d /run/netns ]] && run_netns_existed=1
opt_before="$(ls -A /opt 2>/dev/null || true)"

# A descriptor on the e2e lock, as `flock /tmp/weft-e2e.lock ctest ...`
# leaves one to every test (opened here too, so the check before `down`
# bites also when the test runs without flock). Bed daemons must not inherit
# it: a kept bed would hold the lock and stall every other e2e run.
E2E_LOCK=/tmp/weft-e2e.lock
exec {lock_fd}>>"$E2E_LOCK"

# ---------------------------------------------------------------- up
step "up 2"
e2e_bed_up 2
assert_int_le "$E2E_LAST_MS" 60000 "up 2 took too long"
assert_eq "h1 h2" "$TB_HOSTS" "hosts in env file"
assert_eq "198.18.0.1" "$TB_h1_ADDR"
assert_eq "198.18.0.2" "$TB_h2_ADDR"
assert_ok test -S "$TB_h1_DOCKER_SOCK"

step "the bed created no interface in the root network namespace"
assert_eq "$root_links_before" "$(ip -o link show | awk -F': ' '{print $2}' | sort)" "root netns links changed"

step "namespaces, underlay addresses and MTU"
ns_list="$(ip netns list)"
for ns in "${TB_NS_PREFIX}u" "${TB_NS_PREFIX}h1" "${TB_NS_PREFIX}h2"; do
  assert_contains "$ns_list" "$ns" "namespace missing"
done
for h in h1 h2; do
  addr_var="TB_${h}_ADDR"
  assert_ok tb_exec "$h" ip -4 -o addr show dev eth0
  assert_contains "$E2E_OUT" "${!addr_var}/24" "$h: underlay address"
  assert_contains "$E2E_OUT" "eth0" "$h: underlay interface"
  assert_ok tb_exec "$h" ip -o link show dev eth0
  assert_contains "$E2E_OUT" "mtu 1500" "$h: underlay MTU"
  assert_ok tb_exec "$h" ip -o link show dev lo
  assert_contains "$E2E_OUT" "UP" "$h: loopback up"
done

step "each daemon is its own engine"
id1="$(tb_docker h1 info -f '{{.ID}}')"
id2="$(tb_docker h2 info -f '{{.ID}}')"
assert_ne "$id1" "$id2" "engine IDs"
assert_eq "$TB_h1_DIR/data" "$(tb_docker h1 info -f '{{.DockerRootDir}}')" "h1 data root"
assert_eq "$TB_h2_DIR/data" "$(tb_docker h2 info -f '{{.DockerRootDir}}')" "h2 data root"
assert_eq "h1" "$(tb_docker h1 info -f '{{.Name}}')" "h1 hostname"
assert_eq "h2" "$(tb_docker h2 info -f '{{.Name}}')" "h2 hostname"
assert_ne "h1" "$(hostname)" "the root UTS namespace was renamed"

step "ping over the underlay, both ways"
time_it "first ping h1->h2" assert_ok tb_exec h1 busybox ping -c 1 -W 5 "$TB_h2_ADDR"
assert_ok tb_exec h1 busybox ping -c 3 -i 0.2 -W 2 "$TB_h2_ADDR"
assert_contains "$E2E_OUT" "3 packets received" "h1 -> h2"
assert_ok tb_exec h2 busybox ping -c 3 -i 0.2 -W 2 "$TB_h1_ADDR"
assert_contains "$E2E_OUT" "3 packets received" "h2 -> h1"

step "containers with --network none on each host"
declare -A cid=()
for h in h1 h2; do
  time_it "docker run --rm ($h)" assert_ok tb_docker "$h" run --rm --network none busybox:local true
  assert_ok tb_docker "$h" run --rm --network none busybox:local iperf3 --version
  assert_contains "$E2E_OUT" "iperf 3" "$h: iperf3 in busybox:local"
  assert_ok tb_docker "$h" run -d --network none --name "selftest-$h" busybox:local sleep 600
  cid[$h]="$E2E_OUT"
  assert_eq "true" "$(tb_docker "$h" inspect -f '{{.State.Running}}' "selftest-$h")" "$h: container running"
done

step "each daemon sees only its own containers"
assert_eq "selftest-h1" "$(tb_docker h1 ps -a --format '{{.Names}}')" "h1 containers"
assert_eq "selftest-h2" "$(tb_docker h2 ps -a --format '{{.Names}}')" "h2 containers"
assert_fails tb_docker h1 inspect "${cid[h2]}"
assert_fails tb_docker h2 inspect "${cid[h1]}"

step "link-down / link-up"
assert_ok tb link-down h2
assert_fails tb_exec h1 busybox ping -c 1 -W 1 "$TB_h2_ADDR"
assert_ok tb link-up h2
wait_until 15 tb_exec h1 busybox ping -c 1 -W 1 "$TB_h2_ADDR"
log "h2 reachable again ${E2E_WAITED_MS} ms after link-up"

step "dockerd-stop / dockerd-start: a daemon restart that keeps the host's mount namespace"
assert_ok tb_docker h2 run -d --network none --restart always --stop-timeout 1 --name selftest-r busybox:local sleep 600
assert_ok tb_docker h2 stop -t 0 "selftest-h2"
old_dockerd="$(cat "$TB_h2_DIR/launcher.pid")"
mntns="$(readlink "/proc/$old_dockerd/ns/mnt")"
time_it "dockerd-stop h2" assert_ok tb dockerd-stop h2
assert_ok proc_gone "$old_dockerd"
assert_fails tb_docker h2 info
assert_fails tb dockerd-stop h2
assert_contains "$E2E_OUT" "not running"
holder="$(cat "$TB_h2_DIR/mntns.pid")"
assert_eq "$mntns" "$(readlink "/proc/$holder/ns/mnt")" "the holder keeps dockerd's mount namespace"
assert_eq "net:[$(stat -L -c %i "$TB_h2_NETNS")]" "$(readlink "/proc/$holder/ns/net")" "the holder is in h2's netns"
time_it "dockerd-start h2" assert_ok tb dockerd-start h2
new_dockerd="$(cat "$TB_h2_DIR/launcher.pid")"
assert_ne "$old_dockerd" "$new_dockerd" "a new dockerd"
assert_eq "$mntns" "$(readlink "/proc/$new_dockerd/ns/mnt")" "the new dockerd runs in the kept mount namespace"
assert_eq "$id2" "$(tb_docker h2 info -f '{{.ID}}')" "h2's engine ID after the restart"
assert_eq "h2" "$(tb_docker h2 info -f '{{.Name}}')" "h2's hostname after the restart"
wait_until 20 test "$(tb_docker h2 inspect -f '{{.State.Status}}' selftest-r)" == running
assert_fails tb dockerd-start h2
assert_contains "$E2E_OUT" "already running"
# a second stop/start (holder already there), the hard way
assert_ok tb dockerd-stop h2 --kill
assert_eq "$holder" "$(cat "$TB_h2_DIR/mntns.pid")" "one holder"
assert_ok tb dockerd-start h2
assert_ok tb_docker h2 rm -f selftest-r
assert_ok tb_docker h2 start "selftest-h2"
assert_ok tb_docker h2 ps -q
assert_eq 1 "$(wc -l <<<"$E2E_OUT")" "h2's containers after the restarts"

step "weft-start / weft-stop with a stand-in plugin"
if [[ -x /usr/bin/python3 ]]; then
  fake_bin="$E2E_BED_PARENT/fakebin"
  mkdir -p "$fake_bin"
  ln -s "$E2E_REPO/tests/testbed/fake-weft-plugin.py" "$fake_bin/weft-plugin"
  time_it "weft-start h1" assert_ok env WEFT_BIN="$fake_bin" "$TESTBED" weft-start h1 --log-level debug
  assert_ok test -S "$TB_h1_WEFT_SOCK"
  assert_fails env WEFT_BIN="$fake_bin" "$TESTBED" weft-start h1
  assert_contains "$E2E_OUT" "already running"
  wpid="$(cat "$TB_h1_WEFT_PIDFILE")"
  assert_eq "net:[$(stat -L -c %i "$TB_h1_NETNS")]" "$(readlink "/proc/$wpid/ns/net")" "plugin runs in h1's netns"
  assert_eq "$(readlink /proc/self/ns/mnt)" "$(readlink "/proc/$wpid/ns/mnt")" "plugin runs in the root mount ns"
  cmdline="$(tr '\0' ' ' <"/proc/$wpid/cmdline")"
  assert_contains "$cmdline" "--advertise-addr $TB_h1_ADDR"
  assert_contains "$cmdline" "--state-dir $TB_h1_WEFT_STATE"
  assert_contains "$cmdline" "--log-level debug"
  # h1's dockerd finds the plugin at /run/docker/plugins/weft.sock; h2's does not.
  assert_ok tb_docker h1 network create -d weft selftest-net
  assert_contains "$(cat "$TB_h1_WEFT_STATE/requests.log")" "/NetworkDriver.CreateNetwork"
  # (asking h2's daemon for the driver would take it ~15 s of retries to
  # give up; look into its mount namespace instead)
  h1_dockerd="$(cat "$TB_h1_DIR/dockerd.pid")"
  h2_dockerd="$(cat "$TB_h2_DIR/dockerd.pid")"
  assert_eq "weft.sock" "$(nsenter -t "$h1_dockerd" -m ls /run/docker/plugins)" "h1 dockerd's plugin dir"
  assert_empty "$(nsenter -t "$h2_dockerd" -m ls /run/docker/plugins)" "h2 dockerd's plugin dir"
  assert_fails test -e /run/docker/plugins/weft.sock
  assert_ok tb_docker h1 network rm selftest-net
  assert_ok tb weft-stop h1
  assert_ok proc_gone "$wpid"
  # --kill, and a plugin left running for `down` to find
  assert_ok env WEFT_BIN="$fake_bin" "$TESTBED" weft-start h1
  wpid="$(cat "$TB_h1_WEFT_PIDFILE")"
  assert_ok tb weft-stop h1 --kill
  assert_ok proc_gone "$wpid"
  assert_ok env WEFT_BIN="$fake_bin" "$TESTBED" weft-start h2
  assert_ok env WEFT_BIN="$fake_bin" "$TESTBED" weft-start h1
else
  log "SKIP weft-start/stop part: /usr/bin/python3 missing"
fi
assert_fails env WEFT_BIN=/nonexistent "$TESTBED" weft-start h2
assert_contains "$E2E_OUT" "weft-plugin not found"

step "status"
assert_ok tb status
echo "$E2E_OUT" >&2
assert_contains "$E2E_OUT" "198.18.0.2"

# A netns bind mount under a host's weft state dir, as the plugin leaves them.
ip netns add "${TB_NS_PREFIX}sb"
touch "$TB_h1_WEFT_STATE/sandbox-ns"
mount -n --bind "/run/netns/${TB_NS_PREFIX}sb" "$TB_h1_WEFT_STATE/sandbox-ns"
ip netns del "${TB_NS_PREFIX}sb"

# ---------------------------------------------------------------- down
step "down"
# Every process of the bed, to check afterwards that none survived.
bed_pids=()
for h in h1 h2; do
  d_var="TB_${h}_DIR"
  for f in "${!d_var}/dockerd.pid" "${!d_var}/x/containerd/containerd.pid" "${!d_var}/weft.pid"; do
    [[ -f $f ]] && bed_pids+=("$(cat "$f")")
  done
  bed_pids+=("$(tb_docker "$h" inspect -f '{{.State.Pid}}' "selftest-$h")")
done
ns_ino="$(stat -L -c %i "$TB_h1_NETNS")"
for p in /proc/[0-9]*; do
  [[ $(readlink "$p/ns/net" 2>/dev/null) == "net:[$ns_ino]" ]] && bed_pids+=("${p#/proc/}")
done
bed_pids+=("$(cat "$TB_h2_DIR/mntns.pid")")
log "bed processes: ${bed_pids[*]}"
assert_int_le 6 "${#bed_pids[@]}" "too few bed processes found"
assert_eq "$E2E_LOCK" "$(readlink "/proc/$$/fd/$lock_fd")" "the test's own descriptor on the e2e lock"
assert_empty "$(fds_on "$E2E_LOCK" "${bed_pids[@]}")" "bed processes holding the e2e lock $E2E_LOCK"
exec {lock_fd}>&-
bed_dir="$TB_DIR"
prefix="$TB_NS_PREFIX"
e2e_bed_down
assert_int_le "$E2E_LAST_MS" 30000 "down took too long"

step "nothing is left"
assert_fails test -e "$bed_dir"
assert_empty "$(ip netns list | grep -F -- "$prefix" || true)" "namespaces left"
assert_empty "$(findmnt -rn -o TARGET | grep -F -- "$bed_dir" || true)" "mounts left"
assert_empty "$(findmnt -rn -o TARGET | grep -F -- "$prefix" || true)" "netns mounts left"
assert_empty "$(ls -d /sys/fs/cgroup/*/"$prefix"* 2>/dev/null || true)" "cgroups left"
assert_eq "$root_links_before" "$(ip -o link show | awk -F': ' '{print $2}' | sort)" "root netns links changed"
assert_eq "$opt_before" "$(ls -A /opt 2>/dev/null || true)" "/opt changed"
# /run/netns (made by `ip netns add`) goes when empty; another bed may be
# using it meanwhile.
if ((run_netns_existed == 0)) && [[ -d /run/netns ]]; then
  assert_ne "" "$(ls -A /run/netns)" "/run/netns left behind empty"
fi
left=""
for p in "${bed_pids[@]}"; do
  # Under lib.sh's reaper even zombies are gone.
  if [[ -e /proc/$p ]]; then left+="$p($(awk '{print $2, $3}' "/proc/$p/stat" 2>/dev/null)) "; fi
done
assert_empty "$left" "bed processes still present"
# shellcheck disable=SC2009
assert_empty "$(ps -e -o pid=,args= | grep -F -- "$bed_dir" | grep -v grep || true)" "processes naming the bed"

# ---------------------------------------------------------------- failed up
step "down after a failed up"
E2E_BED_PARENT="$(mktemp -d /tmp/weft-e2e.XXXXXX)"
echo "$$ $(_e2e_starttime $$)" >"$E2E_BED_PARENT/owner"
export TB_DIR="$E2E_BED_PARENT/bed" TB_NS_PREFIX="tbw-${E2E_BED_PARENT##*.}-"
# The daemons are started, then building the image fails -> up fails and,
# with TB_KEEP_ON_FAIL=1, leaves running daemons behind for `down`.
assert_fails env TB_KEEP_ON_FAIL=1 TB_IMAGE_BINS="no-such-binary-xyz" "$TESTBED" up 2
assert_contains "$E2E_OUT" "up failed"
assert_ok test -f "$TB_DIR/.weft-testbed"
assert_contains "$(ip netns list)" "${TB_NS_PREFIX}h2"
half_pids=()
for h in h1 h2; do half_pids+=("$(cat "$TB_DIR/$h/launcher.pid")"); done
for p in "${half_pids[@]}"; do assert_ok test -e "/proc/$p"; done
# and a daemon killed the hard way, as by a killed test
kill -KILL "${half_pids[0]}"
e2e_bed_down
assert_empty "$(ip netns list | grep -F -- "$TB_NS_PREFIX" || true)" "namespaces left after failed up"
assert_fails test -e "$TB_DIR"
for p in "${half_pids[@]}"; do assert_ok proc_gone "$p"; done
assert_ok tb down # idempotent

e2e_pass
