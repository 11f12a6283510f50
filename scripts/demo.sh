#!/usr/bin/env bash
# weft's main job, on this machine: brings up Docker hosts (each a network
# namespace with its own real dockerd), starts weft on them, creates a weft
# network, runs containers on it and shows them talking. Leaves everything up
# for you to look around, and prints how to tear it down.
#
#   sudo ./scripts/demo.sh          # bring up and show
#   sudo ./scripts/demo.sh down     # tear the demo down
#
# Environment: WEFT_DEMO_DIR (default /tmp/weft-demo), WEFT_DEMO_HOSTS (default 2).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
export TB_DIR=${WEFT_DEMO_DIR:-/tmp/weft-demo}
export TB_NS_PREFIX=${TB_NS_PREFIX:-wdemo-}
hosts=${WEFT_DEMO_HOSTS:-2}
tb() { "$here/tests/testbed/testbed.sh" "$@"; }
say() { printf '\n\033[1m# %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

if [[ ${1:-} == down ]]; then
  tb down
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "demo: run as root (it creates network namespaces and Docker daemons)" >&2
  exit 1
fi

say "installing dependencies and building weft"
"$here/scripts/install-deps.sh"
cmake -G Ninja -S "$here" -B "$here/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$here/build" weft-plugin >/dev/null

if [[ -f $TB_DIR/env ]]; then
  say "tearing down the previous demo in $TB_DIR"
  tb down
fi

say "bringing up $hosts Docker hosts (network namespaces on underlay 198.18.0.0/24, one dockerd each)"
tb up "$hosts"
for i in $(seq 1 "$hosts"); do
  tb weft-start "h$i"
done
tb status

say "creating a weft network on h1"
run tb docker h1 network create -d weft --ipam-driver weft --subnet 10.10.0.0/24 demo
run tb docker h1 network inspect demo --format '{{.Name}} driver={{.Driver}} subnet={{(index .IPAM.Config 0).Subnet}}'

say "running two containers on it"
run tb docker h1 run -d --name c1 --network demo busybox:local sleep 3600
run tb docker h1 run -d --name c2 --network demo busybox:local sleep 3600
ip2=$(tb docker h1 inspect -f '{{(index .NetworkSettings.Networks "demo").IPAddress}}' c2)

say "c1 pings c2 by IP ($ip2) and by name"
run tb docker h1 exec c1 ping -c 3 -W 2 "$ip2"
run tb docker h1 exec c1 ping -c 3 -W 2 c2

say "what weft built in the kernel (the network's sandbox namespace)"
ns=$(ls "$TB_DIR/h1/weft/netns")
run nsenter --net="$TB_DIR/h1/weft/netns/$ns" ip -d -br link
run nsenter --net="$TB_DIR/h1/weft/netns/$ns" ip -br addr

cat <<TXT

Look around:
  TB_DIR=$TB_DIR $here/tests/testbed/testbed.sh status                     # hosts, daemons, weft pids
  TB_DIR=$TB_DIR $here/tests/testbed/testbed.sh docker h1 ps   # any docker command on a host
  TB_DIR=$TB_DIR $here/tests/testbed/testbed.sh docker h1 exec -it c1 sh
  less $TB_DIR/h1/weft.log                                     # weft's log on h1
  cat $TB_DIR/h1/weft/state.json                               # weft's persisted state

Tear everything down:
  sudo $here/scripts/demo.sh down
TXT
