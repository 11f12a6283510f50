#!/usr/bin/env bash
# Service VIPs on a weft network (issue 13): how fast a new backend gets
# traffic after `docker service scale` returns, and what the VIP path costs
# next to a task's own address. Two test-bed hosts, the managed plugin
# (built from the Dockerfile, rootfs cached like the e2e tests), a swarm,
# `docker network create -d weft:latest benchnet`, a replicated service
# `test` (busybox httpd) and a global client service `cli`.
#
#   bench/docker/service_vip_bench.sh            (as root; ROUNDS=10, PINGS=200, REQS=200)
#
# 1. scale -> traffic: ROUNDS times `docker service scale test=N+1` (it
#    returns once the new task runs); a loop in a client task fetches
#    http://test/ back to back and stamps each answer with /proc/uptime (the
#    kernel's clock, shared with the host); the time from the scale's return
#    to the first answer from the new task. p50/p99 printed.
# 2. VIP vs task IP from the same client task: ping RTT (PINGS, 20 ms apart)
#    and the time of REQS sequential HTTP requests, to the VIP and to one
#    task's address.
# shellcheck disable=SC2154  # TB_h1_ADDR and friends: the bed's env file
# shellcheck source-path=SCRIPTDIR source=../../tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../tests/e2e/lib.sh"
# shellcheck source=../../tests/e2e/weft_lib.sh
source "$E2E_LIB_DIR/weft_lib.sh"
# shellcheck source=../../tests/e2e/managed_lib.sh
source "$E2E_LIB_DIR/managed_lib.sh"
ROUNDS="${ROUNDS:-10}"
PINGS="${PINGS:-200}"
REQS="${REQS:-200}"
say() { echo "# $*" >&2; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }

managed_require
e2e_bed_up 2
HOSTS=(h1 h2)
MGR=h1
managed_build_push
managed_install "${HOSTS[@]}"
key="$(new_cluster_key)"
for h in "${HOSTS[@]}"; do
  assert_ok dh "$h" plugin set weft "ADVERTISE_ADDR=$(haddr "$h")" "KEY=$key"
  assert_ok dh "$h" plugin enable weft
done
for h in "${HOSTS[@]}"; do wait_until 10 socket_answers "$h"; done
assert_ok dh h1 swarm init --advertise-addr "$TB_h1_ADDR"
assert_ok dh h2 swarm join --advertise-addr "$(haddr h2)" --token "$(dh h1 swarm join-token -q manager)" "$TB_h1_ADDR:2377"
assert_ok dh h1 network create -d weft:latest benchnet
SVC_CMD=(sh -c 'mkdir -p /www && hostname >/www/index.html && exec httpd -f -p 80 -h /www')
assert_ok dh h1 service create -d --name test --network benchnet --replicas 1 --stop-grace-period 1s busybox:local "${SVC_CMD[@]}"
assert_ok dh h1 service create -d --name cli --mode global --network benchnet --stop-grace-period 1s busybox:local sleep 100000
wait_until 90 svc_on_hosts cli h1 h2
c="$(task_on h2 cli)"
say "client task ${c:0:12} on h2"

# The fetch loop, in the client, writing "<uptime> <hostname>" lines.
dh h2 exec -d "$c" sh -c 'while :; do b=$(printf "GET / HTTP/1.0\r\n\r\n" | nc -w 1 test 80 | tail -n 1);
  echo "$(cut -d" " -f1 /proc/uptime) $b" >>/tmp/hits; done'
lat=()
for ((r = 1; r <= ROUNDS; r++)); do
  before="$(dh h2 exec "$c" sh -c 'awk "{print \$2}" /tmp/hits | sort -u')"
  dh h1 service scale "test=$((r + 1))" >/dev/null 2>&1 || fail "service scale test=$((r + 1))"
  t0="$(uptime_s)"
  new=""
  for ((i = 0; i < 200 && -z $new; i++)); do
    sleep 0.05
    new="$(dh h2 exec "$c" sh -c "awk '\$1 >= $t0 {print}' /tmp/hits" | awk '{print $2}' | grep -vxF -f <(echo "$before") | head -n1 || true)"
  done
  [[ -n $new ]] || fail "round $r: no answer from a new task within 10 s"
  t1="$(dh h2 exec "$c" sh -c "awk '\$1 >= $t0 && \$2 == \"$new\" {print \$1; exit}' /tmp/hits")"
  ms="$(awk -v a="$t0" -v b="$t1" 'BEGIN {d = (b - a) * 1000; if (d < 0) d = 0; printf "%d", d}')"
  lat+=("$ms")
  say "round $r: test=$((r + 1)), new task $new answered $ms ms after scale returned"
done
sorted="$(printf '%s\n' "${lat[@]}" | sort -n)"
p50="$(awk -v n="${#lat[@]}" 'NR == int((n + 1) / 2) {print}' <<<"$sorted")"
p99="$(awk -v n="${#lat[@]}" 'NR == int(n * 0.99 + 0.999) {print}' <<<"$sorted")"
dh h2 exec "$c" sh -c 'pkill -f "nc -w 1 test" ; kill $(pgrep -f "while :") 2>/dev/null' >/dev/null 2>&1 || true

vip="$(dh h1 service inspect -f '{{range .Endpoint.VirtualIPs}}{{.Addr}}{{end}}' test)"
vip="${vip%%/*}"
tip="$(dh h2 exec "$c" nslookup tasks.test 127.0.0.11 2>/dev/null | awk '/^Address/ && $2 !~ /127.0.0.11/ {print $2}' | head -n1)"
rtt() { dh h2 exec "$c" ping -q -c "$PINGS" -i 0.02 "$1" | awk -F/ '/round-trip|rtt/ {print $4}'; }
reqs() {
  dh h2 exec "$c" sh -c "s=\$(cut -d' ' -f1 /proc/uptime); i=0; while [ \$i -lt $REQS ]; do
    printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 1 $1 80 >/dev/null; i=\$((i + 1)); done;
    e=\$(cut -d' ' -f1 /proc/uptime); awk -v s=\$s -v e=\$e -v n=$REQS 'BEGIN {printf \"%.2f\", (e - s) * 1000 / n}'"
}
rv="$(rtt "$vip")"
rt="$(rtt "$tip")"
hv="$(reqs "$vip")"
ht="$(reqs "$tip")"

echo
echo "service VIPs on weft ($(date -u +%F), $(nproc) cores, 2 hosts; ROUNDS=$ROUNDS PINGS=$PINGS REQS=$REQS)"
printf '%-48s %s\n' "scale -> new backend gets traffic, p50" "${p50} ms"
printf '%-48s %s\n' "scale -> new backend gets traffic, p99 (max)" "${p99} ms"
printf '%-48s %s\n' "all rounds (ms)" "${lat[*]}"
printf '%-48s %-12s %s\n' "" "VIP $vip" "task $tip"
printf '%-48s %-12s %s\n' "ping RTT avg (ms)" "$rv" "$rt"
printf '%-48s %-12s %s\n' "HTTP request, connect to close (ms)" "$hv" "$ht"
e2e_pass
