#!/usr/bin/env python3
"""Client for service_vip_bench.sh: runs inside a container's network
namespace (nsenter --net=/proc/<pid>/ns/net), where weft programs the
service VIPs, so its connections take the same path as the container's own.
The backends are HTTP servers whose body is their hostname (the container's
12-hex id). Needs root for `lat` (raw ICMP socket).

  service_vip_client.py new VIP KNOWN TIMEOUT_S
      Connects to VIP:80 one connection after another, from now until one
      reaches a backend whose hostname is not in KNOWN (comma-separated), and
      prints, on one line:
        new <body> <start of that connection, unix ns> <its answer, unix ns>
            <connections> <failed connections> <unix ns of the first one>
      or, after TIMEOUT_S, "timeout <connections> <failed> <body:count,...>".
      Prints "started <unix ns>" before its first connection. Clock:
      CLOCK_REALTIME, the clock of `date +%s%N` and of Docker's StartedAt.

  service_vip_client.py lat VIP IP N
      N rounds; each round measures, for VIP and for IP (alternating which
      goes first): an ICMP echo's round trip, a TCP connect to :80, and an
      HTTP/1.0 request on a new connection (connect to end of the answer).
      Prints "<kind> <target> <p50 us> <p99 us> <mean us> <samples> <lost>"
      per kind and target.
"""
import os
import select
import socket
import struct
import sys
import time

from first_ping_pinger import checksum  # (this script's directory is on sys.path)

REQUEST = b"GET / HTTP/1.0\r\n\r\n"


def http_get(addr, timeout):
    """The last line of the body served at addr:80, or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((addr, 80))
        s.sendall(REQUEST)
        data = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            data += b
    except OSError:
        return None
    finally:
        s.close()
    lines = [ln for ln in data.replace(b"\r", b"").split(b"\n") if ln]
    return lines[-1].decode(errors="replace") if lines else None


def cmd_new(vip, known, timeout_s):
    known = set(k for k in known.split(",") if k)
    seen = {}
    conns = failed = 0
    first = time.time_ns()
    print("started %d" % first, flush=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        t0 = time.time_ns()
        body = http_get(vip, 1.0)
        t1 = time.time_ns()
        conns += 1
        if body is None:
            failed += 1
            continue
        seen[body] = seen.get(body, 0) + 1
        if body not in known:
            print("new %s %d %d %d %d %d" % (body, t0, t1, conns, failed, first), flush=True)
            return 0
    print("timeout %d %d %s" % (conns, failed, ",".join("%s:%d" % kv for kv in sorted(seen.items()))), flush=True)
    return 1


def ping_us(sock, target, ident, seq, timeout):
    payload = b"weft-vip-bench" + b"\0" * 42
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    pkt = struct.pack("!BBHHH", 8, 0, checksum(hdr + payload), ident, seq) + payload
    t0 = time.perf_counter_ns()
    sock.sendto(pkt, (target, 0))
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        r, _, _ = select.select([sock], [], [], left)
        if not r:
            return None
        data, addr = sock.recvfrom(4096)
        t1 = time.perf_counter_ns()
        ihl = (data[0] & 0x0F) * 4
        if len(data) < ihl + 8 or addr[0] != target:
            continue
        typ, _, _, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
        if typ == 0 and rid == ident and rseq == seq:
            return (t1 - t0) / 1000.0


def connect_us(target):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2.0)
    try:
        t0 = time.perf_counter_ns()
        s.connect((target, 80))
        return (time.perf_counter_ns() - t0) / 1000.0
    except OSError:
        return None
    finally:
        s.close()


def http_us(target):
    t0 = time.perf_counter_ns()
    body = http_get(target, 2.0)
    return None if body is None else (time.perf_counter_ns() - t0) / 1000.0


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    i = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[i]


def cmd_lat(vip, ip, n):
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    ident = os.getpid() & 0xFFFF
    res = {}
    targets = [("vip", vip), ("task", ip)]
    for i in range(n):
        order = targets if i % 2 == 0 else targets[::-1]
        for name, addr in order:
            res.setdefault(("ping", name), []).append(ping_us(sock, addr, ident, i & 0xFFFF, 1.0))
        for name, addr in order:
            res.setdefault(("connect", name), []).append(connect_us(addr))
        for name, addr in order:
            res.setdefault(("http", name), []).append(http_us(addr))
    for kind in ("ping", "connect", "http"):
        for name, _ in targets:
            vals = res[(kind, name)]
            ok = sorted(v for v in vals if v is not None)
            mean = sum(ok) / len(ok) if ok else float("nan")
            print("%s %s %.0f %.0f %.0f %d %d" % (kind, name, pct(ok, 50), pct(ok, 99), mean, len(ok),
                                                  len(vals) - len(ok)), flush=True)
    return 0


def main():
    a = sys.argv[1:]
    if len(a) == 4 and a[0] == "new":
        return cmd_new(a[1], a[2], float(a[3]))
    if len(a) == 4 and a[0] == "lat":
        return cmd_lat(a[1], a[2], int(a[3]))
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
