#!/usr/bin/python3
"""A stand-in for weft-plugin, for testing the test bed itself.

Accepts weft-plugin's test-bed flags (--socket, --state-dir, --advertise-addr;
anything else is ignored), serves just enough of Docker's remote network
driver protocol over the unix socket for `docker network create -d weft` to
succeed, and appends every request path to <state-dir>/requests.log.
Not a network driver: it programs nothing.
"""
import argparse
import json
import os
import signal
import socketserver
import sys
from http.server import BaseHTTPRequestHandler

REPLIES = {
    "/Plugin.Activate": {"Implements": ["NetworkDriver"]},
    "/NetworkDriver.GetCapabilities": {"Scope": "local", "ConnectivityScope": "local"},
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--advertise-addr", default="")
    args, _ = ap.parse_known_args()
    os.makedirs(args.state_dir, exist_ok=True)
    reqlog = os.path.join(args.state_dir, "requests.log")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            with open(reqlog, "a") as f:
                f.write(self.path + "\n")
            body = json.dumps(REPLIES.get(self.path, {})).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.docker.plugins.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *a):
            sys.stderr.write("fake-weft-plugin: " + (fmt % a) + "\n")

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    if os.path.exists(args.socket):
        os.unlink(args.socket)
    srv = Server(args.socket, Handler)

    def stop(*_):
        try:
            os.unlink(args.socket)
        finally:
            os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"fake-weft-plugin: pid {os.getpid()} on {args.socket}, advertise {args.advertise_addr}",
          file=sys.stderr, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
