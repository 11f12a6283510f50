#!/usr/bin/env python3
"""Asks 127.0.0.11 (Docker's embedded DNS, in the namespace this runs in)
for an A record of NAME every 5 ms until an answer with an address comes,
then prints the wall-clock time (CLOCK_REALTIME, seconds) it came at.
Gives up after TIMEOUT seconds (exit 1). Used by name_resolve_latency.sh."""
import random
import socket
import struct
import sys
import time

name, timeout = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 30.0
qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(0.005)
end = time.time() + timeout
while time.time() < end:
    qid = random.randrange(65536)
    sock.sendto(struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + b"\0\1\0\1", ("127.0.0.11", 53))
    try:
        while True:
            data = sock.recv(512)
            if len(data) >= 12 and struct.unpack("!H", data[:2])[0] == qid:
                break
    except socket.timeout:
        continue
    rcode, ancount = data[3] & 0xF, struct.unpack("!H", data[6:8])[0]
    if rcode == 0 and ancount > 0:
        print(f"{time.time():.6f}")
        sys.exit(0)
    time.sleep(0.005)
sys.exit(1)
