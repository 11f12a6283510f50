#!/usr/bin/env python3
"""Pinger for first_ping_latency.sh: run inside a container's network
namespace (nsenter --net=/proc/<pid>/ns/net). Reads commands on stdin:

  go IP [INTERVAL_MS]  ping IP every INTERVAL_MS (default 2) until the first
                       echo reply from IP; then print "reply <unix ns> <sent>"
                       (or "timeout <sent>" after 20 s) and wait for the next
  quit

Echo requests that cannot be sent yet (no route, neighbour not resolved) are
simply retried at the next tick. Needs root (raw ICMP socket)."""
import os
import select
import socket
import struct
import sys
import time


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def echo(ident, seq):
    payload = b"weft-first-ping" + b"\0" * 41
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    return struct.pack("!BBHHH", 8, 0, checksum(hdr + payload), ident, seq) + payload


def main():
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.setblocking(False)
    ident = os.getpid() & 0xFFFF
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "quit":
            break
        if parts[0] != "go":
            out.write("error unknown command\n")
            out.flush()
            continue
        target = parts[1]
        interval = (float(parts[2]) if len(parts) > 2 else 2.0) / 1000.0
        ident = (ident + 1) & 0xFFFF  # a fresh id per trial: late replies of old trials do not count
        # drain anything left over
        while True:
            try:
                sock.recv(4096)
            except BlockingIOError:
                break
        sent = 0
        start = time.monotonic()
        next_send = start
        result = None
        while result is None:
            now = time.monotonic()
            if now >= next_send:
                sent += 1
                try:
                    sock.sendto(echo(ident, sent & 0xFFFF), (target, 0))
                except OSError:
                    pass  # EHOSTUNREACH while the neighbour is unresolved, etc.
                next_send += interval
                if next_send < now:
                    next_send = now + interval
            if now - start > 20:
                result = "timeout %d" % sent
                break
            r, _, _ = select.select([sock], [], [], max(0.0, next_send - time.monotonic()))
            if not r:
                continue
            while True:
                try:
                    data, addr = sock.recvfrom(4096)
                except BlockingIOError:
                    break
                t = time.time_ns()
                ihl = (data[0] & 0x0F) * 4
                if len(data) < ihl + 8 or addr[0] != target:
                    continue
                typ, _, _, rid, _ = struct.unpack("!BBHHH", data[ihl:ihl + 8])
                if typ == 0 and rid == ident:
                    result = "reply %d %d" % (t, sent)
                    break
        out.write(result + "\n")
        out.flush()


if __name__ == "__main__":
    main()
