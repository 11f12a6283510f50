#!/usr/bin/env bash
# weft's main job, on this machine: brings up Docker hosts (each a network
# namespace with its own real dockerd), starts weft on them, creates a weft
# network, runs containers on it and shows them talking. Leaves everything up
# for you to look around, and prints how to tear it down.
#
#   ./scripts/demo.sh          # bring up and show (as root)
#   ./scripts/demo.sh down     # tear the demo down
#
# Environment: WEFT_DEMO_DIR (default /tmp/weft-demo), WEFT_DEMO_HOSTS (default 2).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
export TB_DIR=${WEFT_DEMO_DIR:-/tmp/weft-demo}
export TB_NS_PREFIX=${TB_NS_PREFIX:-wdemo-}
hosts=${WEFT_DEMO_HOSTS:-3}
tb() { "$here/tests/testbed/testbed.sh" "$@"; }
say() { printf '\n\033[1m# %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

if [[ $(id -u) -ne 0 ]]; then
  echo "demo: run as root (it creates network namespaces and Docker daemons); e.g. sudo $0${*:+ $*}" >&2
  exit 1
fi
if [[ ${1:-} == down ]]; then
  tb down
  exit 0
fi

say "installing dependencies and building weft"
"$here/scripts/install-deps.sh"
cmake -G Ninja -S "$here" -B "$here/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$here/build" weft-plugin weft-gossip weftctl >/dev/null

if [[ -f $TB_DIR/env ]]; then
  say "tearing down the previous demo in $TB_DIR"
  tb down
fi

say "bringing up $hosts Docker hosts (network namespaces on underlay 198.18.0.0/24, one dockerd each)"
tb up "$hosts"
key=$(head -c 32 /dev/urandom | base64)   # one cluster key for every host
for i in $(seq 1 "$hosts"); do
  tb weft-start "h$i" --peers 198.18.0.1 --key "$key"
done
tb status

say "creating the weft network 'demo' on every host (same subnet = same network; one --ip-range per host)"
for i in $(seq 1 "$hosts"); do
  run tb docker "h$i" network create -d weft --ipam-driver weft --subnet 10.10.0.0/24 \
    --ip-range "10.10.0.$((i * 32))/27" demo
done

say "running a container on each host"
declare -A ip
for i in $(seq 1 "$hosts"); do
  run tb docker "h$i" run -d --name "c$i" --network demo busybox:local sleep 3600
  ip[$i]=$(tb docker "h$i" inspect -f '{{(index .NetworkSettings.Networks "demo").IPAddress}}' "c$i")
done
run tb docker h1 run -d --name c1b --network demo busybox:local sleep 3600

say "c1 on h1 pings c1b on h1 by name, and the containers on the other hosts by IP (over VXLAN)"
run tb docker h1 exec c1 ping -c 2 -W 2 c1b
for i in $(seq 2 "$hosts"); do
  run tb docker h1 exec c1 ping -c 3 -W 2 "${ip[$i]}"
done
run tb docker "h$hosts" exec "c$hosts" ping -c 3 -W 2 "${ip[1]}"

say "what weft knows: cluster members and remote endpoints (weftctl on h1)"
run "$here/build/bin/weftctl" --socket "$TB_DIR/h1/plugins/weft.sock" peers

say "what weft built in h1's kernel: the network's sandbox, its VTEP and the entries for remote endpoints"
# The network's sandbox (weft-health is the data-plane probes' namespace).
ns=""
for f in "$TB_DIR/h1/weft/netns"/weft-*; do
  [[ ${f##*/} == weft-health ]] || { ns=${f##*/}; break; }
done
run nsenter --net="$TB_DIR/h1/weft/netns/$ns" ip -d -br link
run nsenter --net="$TB_DIR/h1/weft/netns/$ns" bridge fdb show dev "$(ls /sys/class/net >/dev/null; nsenter --net="$TB_DIR/h1/weft/netns/$ns" ip -br link | awk '/^wx-/{sub("@.*","",$1); print $1}')"
run nsenter --net="$TB_DIR/h1/weft/netns/$ns" ip neigh

cat <<TXT

Look around:
  TB_DIR=$TB_DIR $here/tests/testbed/testbed.sh status                     # hosts, daemons, weft pids
  TB_DIR=$TB_DIR $here/tests/testbed/testbed.sh docker h1 ps   # any docker command on a host
  TB_DIR=$TB_DIR $here/tests/testbed/testbed.sh docker h1 exec -it c1 sh
  $here/build/bin/weftctl --socket $TB_DIR/h1/plugins/weft.sock networks   # also: endpoints, peers, status
  less $TB_DIR/h1/weft.log                                     # weft's log on h1
  cat $TB_DIR/h1/weft/state.json                               # weft's persisted state

Tear everything down:
  $here/scripts/demo.sh down        # as root
TXT
