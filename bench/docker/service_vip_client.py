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

  service_vip_client.py run VIP SECONDS
      The same loop for SECONDS (after "started <unix ns>"), then prints
        ran <connections> <failed> <unix ns of the first failed one, or 0>
            <of the last failed one, or 0> <body:count,...>
        <failures: errno:<ms>ms:port<local port>@<unix ns>,... or ->

  service_vip_client.py attach VIP NET TIMEOUT_S
      For a container about to be connected to the VIP's network NET (its
      address, e.g. 10.77.0.0): waits until this namespace has a route to
      NET, then sends requests to VIP:80 one after another (3.5 s timeout:
      a lost SYN's ARP fails after 3 s) until one is answered. Prints
      "started <unix ns>", then
        attached <ms from the route's appearance to the answer>
            <lost requests: errno:ms,... or ->
      or "timeout ..." after TIMEOUT_S.

  service_vip_client.py lat VIP IP N
      N rounds; each round measures, for VIP and for IP (alternating which
      goes first): an ICMP echo's round trip, a TCP connect to :80, and an
      HTTP/1.0 request on a new connection (connect to end of the answer).
      Prints "<kind> <target> <p50 us> <p99 us> <mean us> <samples> <lost>"
      per kind and target.
"""
import errno
import os
import select
import socket
import struct
import sys
import time

from first_ping_pinger import checksum  # (this script's directory is on sys.path)

REQUEST = b"GET / HTTP/1.0\r\n\r\n"


def fetch(addr, timeout):
    """(last line of the body served at addr:80 or None, errno name or None,
    the connection's local port)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    port, data = 0, b""
    try:
        s.connect((addr, 80))
        port = s.getsockname()[1]
        s.sendall(REQUEST)
        while True:
            b = s.recv(4096)
            if not b:
                break
            data += b
    except socket.timeout:
        return None, "TIMEOUT", port or s.getsockname()[1]
    except OSError as e:
        return None, errno.errorcode.get(e.errno, str(e.errno)), port or s.getsockname()[1]
    finally:
        s.close()
    lines = [ln for ln in data.replace(b"\r", b"").split(b"\n") if ln]
    if not lines:
        return None, "EMPTY", port
    return lines[-1].decode(errors="replace"), None, port


def http_get(addr, timeout):
    return fetch(addr, timeout)[0]


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


def cmd_run(vip, seconds):
    seen = {}
    conns = failed = first_fail = last_fail = 0
    fails = []
    print("started %d" % time.time_ns(), flush=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        t0 = time.time_ns()
        body, err, port = fetch(vip, 1.0)
        conns += 1
        if body is None:
            failed += 1
            first_fail = first_fail or t0
            last_fail = t0
            fails.append("%s:%dms:port%d@%d" % (err, (time.time_ns() - t0) // 1000000, port, t0))
            continue
        seen[body] = seen.get(body, 0) + 1
    print("ran %d %d %d %d %s %s" % (conns, failed, first_fail, last_fail,
                                      ",".join("%s:%d" % kv for kv in sorted(seen.items())), ",".join(fails) or "-"),
          flush=True)
    return 0


def has_route(net_hex):
    with open("/proc/net/route") as f:  # (this namespace's: /proc/net follows the reader's)
        return any(line.split()[1] == net_hex for line in f.readlines()[1:])


def cmd_attach(vip, net, timeout_s):
    net_hex = "%08X" % struct.unpack("<I", socket.inet_aton(net))[0]
    print("started %d" % time.time_ns(), flush=True)
    deadline = time.monotonic() + timeout_s
    while not has_route(net_hex):
        if time.monotonic() > deadline:
            print("timeout no-route", flush=True)
            return 1
        time.sleep(0.0005)
    t_route = time.monotonic()
    lost = []
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        body, err, _ = fetch(vip, 3.5)
        if body is not None:
            print("attached %d %s" % ((time.monotonic() - t_route) * 1000, ",".join(lost) or "-"), flush=True)
            return 0
        lost.append("%s:%d" % (err, (time.monotonic() - t0) * 1000))
    print("timeout %s" % (",".join(lost) or "-"), flush=True)
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
    if len(a) == 3 and a[0] == "run":
        return cmd_run(a[1], float(a[2]))
    if len(a) == 4 and a[0] == "attach":
        return cmd_attach(a[1], a[2], float(a[3]))
    if len(a) == 4 and a[0] == "lat":
        return cmd_lat(a[1], a[2], int(a[3]))
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
