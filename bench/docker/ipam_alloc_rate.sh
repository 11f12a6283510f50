#!/usr/bin/env bash
# Cluster-wide IPAM allocation rate (issue 12): addresses per second one host
# hands out, alone and while the other hosts allocate from the same pool too.
# On a three-host test bed (tests/testbed: real weft-plugin and weft-gossip
# processes, real kernel), each host's client asks its own weft-plugin for
# addresses over its plugin socket -- Docker's /IpamDriver.RequestAddress,
# exactly as dockerd sends it, without the container around it -- from a
# cluster-wide pool (--subnet 10.80.0.0/16, no range: 4096 blocks of /28) for
# S seconds with C requests in flight per host. Checks that every address
# handed out is unique across the hosts and prints per-host rates:
#
#   alone   h1 allocates, h2 and h3 idle
#   shared  all three allocate at once (h1's rate is the figure asked for)
#
# Then the same through real dockerd: N `docker run -d` per host, all three
# hosts at once, and the addresses per second each host got.
#
#   flock /tmp/weft-e2e.lock bench/docker/ipam_alloc_rate.sh [S] [C] [N]
#   (as root; defaults S=10 C=4 N=16)
#
# Environment: WEFT_BIN (default <repo>/build/bin).
# shellcheck disable=SC2154  # TB_* come from the bed's env file
# shellcheck source-path=SCRIPTDIR source=../../tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../tests/e2e/lib.sh"
# shellcheck source=../../tests/e2e/weft_lib.sh
source "$E2E_LIB_DIR/weft_lib.sh"
secs="${1:-10}" conc="${2:-4}" nrun="${3:-16}"
for v in "$secs" "$conc" "$nrun"; do
  if ! [[ $v =~ ^[0-9]+$ ]] || ((v < 1)); then
    echo "ipam_alloc_rate: S, C and N must be positive numbers" >&2
    exit 2
  fi
done
e2e_require_multihost
e2e_bed_up 3
HOSTS=(h1 h2 h3)
KEY="$(new_cluster_key)"
for h in "${HOSTS[@]}"; do weft_start_on "$h" "$KEY"; done
wait_until 20 converged h1 h2 h3

# client SOCK SECONDS CONC POOL OUT : RequestPool, then RequestAddress calls
# for SECONDS with CONC in flight; the addresses go to OUT, one a line, and
# a summary "n=<count> errors=<count> seconds=<elapsed>" to stdout.
client() {
  python3 - "$@" <<'PY'
import http.client, json, socket, sys, threading, time
sock, secs, conc, pool, out = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
class Conn(http.client.HTTPConnection):
    def __init__(self):
        super().__init__("localhost", timeout=30)
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(sock)
def call(c, path, body):
    c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    return json.loads(c.getresponse().read())
c = Conn()
p = call(c, "/IpamDriver.RequestPool", {"AddressSpace": "weft-local", "Pool": pool, "Options": {}, "V6": False})
if p.get("Err"):
    sys.exit("RequestPool: " + p["Err"])
got, errs, lock = [], [], threading.Lock()
t0 = time.monotonic()
end = t0 + secs
def worker():
    c = Conn()
    while time.monotonic() < end:
        r = call(c, "/IpamDriver.RequestAddress", {"PoolID": p["PoolID"], "Address": "", "Options": {}})
        with lock:
            (errs if r.get("Err") else got).append(r.get("Err") or r["Address"])
ts = [threading.Thread(target=worker) for _ in range(conc)]
for t in ts: t.start()
for t in ts: t.join()
el = time.monotonic() - t0
open(out, "w").write("".join(a.split("/")[0] + "\n" for a in got))
print("n=%d errors=%d seconds=%.2f%s" % (len(got), len(errs), el, (" first error: " + errs[0]) if errs else ""))
PY
}
rate() { awk '{for (i = 1; i <= NF; i++) if ($i ~ /^n=/) n = substr($i, 3); if ($0 ~ /seconds=/) {split($0, a, "seconds="); t = a[2] + 0}} END {printf "%.1f", n / t}' <<<"$1"; }
tmp="$(mktemp -d)"
e2e_on_exit rm -rf "$tmp"

echo "== plugin socket, $secs s, $conc in flight per host (real weft-plugin + weft-gossip, FAKE_KERNEL off)"
s1="$(client "$(hvar h1 WEFT_SOCK)" "$secs" "$conc" 10.80.0.0/16 "$tmp/alone")" || fail "client on h1: $s1"
echo "alone   h1: $(rate "$s1") addresses/s ($s1)"
pids=()
for h in "${HOSTS[@]}"; do
  client "$(hvar "$h" WEFT_SOCK)" "$secs" "$conc" 10.81.0.0/16 "$tmp/shared-$h" >"$tmp/sum-$h" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a client failed"; done
for h in "${HOSTS[@]}"; do echo "shared  $h: $(rate "$(cat "$tmp/sum-$h")") addresses/s ($(cat "$tmp/sum-$h"))"; done
total="$(cat "$tmp"/shared-h* | wc -l)" uniq="$(sort -u "$tmp"/shared-h* | wc -l)"
echo "shared  all: $total addresses, $uniq unique"
((total == uniq)) || fail "duplicate addresses across hosts"

echo "== real dockerd: $nrun docker run -d per host, all three hosts at once"
for h in "${HOSTS[@]}"; do dh "$h" network create -d weft --ipam-driver weft --subnet 10.82.0.0/16 dn >/dev/null || fail "network create on $h"; done
runs() {
  local h="$1" i t0
  t0=$(now_ms)
  for ((i = 1; i <= nrun; i++)); do dh "$h" run -d --network dn busybox:local sleep 3600 >/dev/null || return 1; done
  echo $(($(now_ms) - t0))
}
pids=()
for h in "${HOSTS[@]}"; do
  runs "$h" >"$tmp/ms-$h" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a docker run failed"; done
for h in "${HOSTS[@]}"; do
  ms="$(cat "$tmp/ms-$h")"
  awk -v n="$nrun" -v ms="$ms" -v h="$h" 'BEGIN {printf "docker  %s: %d containers in %d ms = %.1f addresses/s\n", h, n, ms, n * 1000 / ms}'
done
all="$(for h in "${HOSTS[@]}"; do dh "$h" ps -q | while read -r c; do ctr_ip_on "$h" "$c" dn; done; done)"
echo "docker  all: $(wc -l <<<"$all") addresses, $(sort -u <<<"$all" | wc -l) unique"
[[ $(wc -l <<<"$all") == $(sort -u <<<"$all" | wc -l) ]] || fail "duplicate addresses across hosts"
e2e_pass
