#!/usr/bin/env bash
# What happens to a connection whose first packet leaves a container's
# namespace before weft's service VIP table is there (issue 13: Docker calls
# Join before the namespace exists; weft installs the table once it appears,
# looking every 5 ms, so a container's very first packet can beat it).
# Two namespaces of its own joined by a veth (198.19.77.0/24): a server at
# .2, a client at .1 whose VIP .100 is DNATed to .2 by the same nftables
# table weft renders (kernel/service_vips.cc). Per case, a TCP connect (6 s
# timeout) and ICMP echoes (every 500 ms, 6 s) from the client to the VIP:
#   table-first        the table is there before the first packet (control)
#   late               the table comes 300 ms after the first packet
#   late+other-nat     the same, but the namespace already has a nat chain
#                      (as Docker's embedded-DNS rules make one in every
#                      container), so conntrack tracks the first packet
# Prints one RESULT line per case and probe: ok/failed and how long.
#
#   bench/kernel/vip_first_packet.sh      (as root)
#
# Removes both namespaces on exit, also on failure.
set -euo pipefail
[[ $(id -u) -eq 0 ]] || { echo "vip_first_packet: needs root" >&2; exit 2; }
for c in ip nft python3 busybox; do command -v "$c" >/dev/null || { echo "vip_first_packet: needs $c" >&2; exit 2; }; done
tag="vfp$$"
C="$tag-c" S="$tag-s"
VIP=198.19.77.100 SRV=198.19.77.2
srv_pid=""
cleanup() {
  if [[ -n $srv_pid ]]; then
    kill "$srv_pid" 2>/dev/null || true
    wait "$srv_pid" 2>/dev/null || true
  fi
  ip netns del "$C" 2>/dev/null || true
  ip netns del "$S" 2>/dev/null || true
  [[ -z ${table_file:-} ]] || rm -f "$table_file"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ip netns add "$C"
ip netns add "$S"
ip -n "$C" link add c0 type veth peer name s0 netns "$S"
ip -n "$C" addr add 198.19.77.1/24 dev c0
ip -n "$S" addr add "$SRV/24" dev s0
for n in "$C" "$S"; do ip -n "$n" link set lo up; done
ip -n "$C" link set c0 up
ip -n "$S" link set s0 up
ip netns exec "$S" python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80)); s.listen(64)
while True:
    c, _ = s.accept(); c.sendall(b"ok\n"); c.close()' &
srv_pid=$!
sleep 0.5

# The table weft installs for one VIP with one backend (renderVipScript).
vip_table() {
  cat <<EOF
table inet weft-svc-$tag
delete table inet weft-svc-$tag
table inet weft-svc-$tag {
  chain nat-out {
    type nat hook output priority -100; policy accept;
    ip daddr $VIP dnat ip to numgen inc mod 1 map { 0 : $SRV }
  }
  chain filter-out {
    type filter hook output priority 0; policy accept;
    meta l4proto tcp ct state new ct original ip daddr $VIP ip daddr != { $SRV } reject with tcp reset
    ct state new ct original ip daddr $VIP ip daddr != { $SRV } reject
  }
}
EOF
}
no_vip_table() { ip netns exec "$C" nft delete table inet "weft-svc-$tag" 2>/dev/null || true; }
# The probe, in the client namespace: TCP (a non-blocking connect: its SYN
# leaves at once) or ICMP (an echo every 500 ms, one id: one conntrack
# entry); with LATE=1 the table is installed (nft -f FILE, from the probe
# itself, so the order is certain) 300 ms after the first packet. Prints
# "ok <ms>" or "failed <ms> <why>"; for ICMP also which echo was answered
# first.
probe() { # tcp|icmp LATE TABLE_FILE
  ip netns exec "$C" python3 - "$1" "$2" "$3" "$VIP" <<'PY'
import errno, os, select, socket, struct, subprocess, sys, time
kind, late, table, vip = sys.argv[1], sys.argv[2] == "1", sys.argv[3], sys.argv[4]
t0 = time.monotonic()
ms = lambda: int((time.monotonic() - t0) * 1000)
installed = not late
def maybe_install():
    global installed
    if not installed and time.monotonic() - t0 >= 0.3:
        subprocess.run(["nft", "-f", table], check=True)
        installed = True
if kind == "tcp":
    s = socket.socket(); s.setblocking(False)
    e = s.connect_ex((vip, 80))
    while ms() < 6000:
        maybe_install()
        _, w, _ = select.select([], [s], [], 0.05)
        if w:
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            print(("ok %d" % ms()) if err == 0 else ("failed %d %s" % (ms(), errno.errorcode.get(err, err))))
            sys.exit(0)
    print("failed %d timeout" % ms())
else:
    def csum(b):
        x = sum(struct.unpack("!%dH" % (len(b) // 2), b)); x = (x >> 16) + (x & 0xFFFF); x += x >> 16
        return ~x & 0xFFFF
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    ident, seq, nxt = os.getpid() & 0xFFFF, 0, 0.0
    while ms() < 6000:
        maybe_install()
        if time.monotonic() - t0 >= nxt:
            seq += 1; nxt += 0.5
            h = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"x" * 16
            try: s.sendto(struct.pack("!BBHHH", 8, 0, csum(h), ident, seq) + b"x" * 16, (vip, 0))
            except OSError: pass
        r, _, _ = select.select([s], [], [], 0.05)
        if r:
            d, a = s.recvfrom(4096); ihl = (d[0] & 15) * 4
            t, _, _, rid, rseq = struct.unpack("!BBHHH", d[ihl:ihl + 8])
            if t == 0 and rid == ident:
                print("ok %d (echo %d of %d answered first)" % (ms(), rseq, seq)); sys.exit(0)
    print("failed %d (%d echoes, none answered)" % (ms(), seq))
PY
}
# run_case NAME LATE(0|1) OTHER_NAT(0|1)
run_case() {
  local name="$1" late="$2" other="$3" kind out
  for kind in tcp icmp; do
    no_vip_table
    ip netns exec "$C" nft delete table ip other-nat 2>/dev/null || true
    ip -n "$C" neigh flush dev c0
    if ((other)); then
      ip netns exec "$C" nft -f - <<<$'table ip other-nat {\n  chain out {\n    type nat hook output priority -100;\n  }\n}'
    fi
    ((late)) || ip netns exec "$C" nft -f "$table_file"
    out="$(probe "$kind" "$late" "$table_file")"
    echo "RESULT $name $kind: $out"
  done
}
table_file="$(mktemp /tmp/vip_first_packet.XXXXXX)"
vip_table >"$table_file"
run_case table-first 0 0
run_case late 1 0
run_case late+other-nat 1 1
