#!/usr/bin/env python3
"""Interleaved A/B of two crypto_db binaries, one connection per request.

Each round opens N connections against A and N against B, in turn (each
going first in every other round), each sending one HTTP/1.0 request and
reading until the server closes: what a client without keep-alive pays,
including the server's first read of a connection (which
`bench/server.sh --against`, on kept-alive connections, does not see).
Prints the medians in microseconds per connection and B/A.

Usage: bench/connections_ab.py OLD_BINARY [NEW_BINARY]  (env: ROUNDS=9 N=2000)
"""
import os
import socket
import statistics
import subprocess
import sys
import time

REQUEST = b"GET /price/bitstamp/btc/2020-04-01 HTTP/1.0\r\n\r\n"


def per_connection(port, n):
    started = time.perf_counter()
    for _ in range(n):
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(REQUEST)
            while s.recv(65536):
                pass
    return (time.perf_counter() - started) / n * 1e6


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    binaries = {"A": sys.argv[1], "B": sys.argv[2] if len(sys.argv) > 2
                else os.path.join(here, "..", "target", "release", "crypto_db")}
    ports = {"A": 18141, "B": 18142}
    rounds, n = int(os.environ.get("ROUNDS", 9)), int(os.environ.get("N", 2000))
    servers = [subprocess.Popen([binaries[k], "--port", str(ports[k])],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for k in ("A", "B")]
    try:
        time.sleep(1)
        times = {"A": [], "B": []}
        for round in range(rounds):
            # Each goes first in every other round: the second of two runs
            # back to back is slower on a busy machine, whichever it is.
            for k in ("A", "B") if round % 2 == 0 else ("B", "A"):
                times[k].append(per_connection(ports[k], n))
        a, b = statistics.median(times["A"]), statistics.median(times["B"])
        print(f"A {a:.1f} us/connection  B {b:.1f} us/connection  B/A {b / a:.3f}")
    finally:
        for server in servers:
            server.terminate()


if __name__ == "__main__":
    main()
