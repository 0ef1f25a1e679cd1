#!/usr/bin/env python3
"""Interleaved A/B of two crypto_db binaries on the lesson's fetch job.

Starts one server (B's), then runs `fetch -o FILE` with each binary and
each of the threads, processes and async executors, round by round (A, B, A, B...),
and prints the medians, the ratios, and whether the outputs are the same
bytes.

Usage: bench/fetch.sh --against OLD_BINARY [NEW_BINARY] [ROUNDS]
"""
import statistics
import subprocess
import sys
import tempfile
import time

old = sys.argv[1]
new = sys.argv[2] if len(sys.argv) > 2 else "target/release/crypto_db"
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 13
port = 18341
# Each of the three executors, on the same server, round by round.
EXECUTORS = ["threads", "processes", "async"]
server = subprocess.Popen([new, "--port", str(port)], stdout=subprocess.DEVNULL)
time.sleep(0.5)
work = tempfile.mkdtemp()
try:
    runs = {}
    for executor in EXECUTORS:
        for name, binary in [("A", old), ("B", new)]:
            output = f"{work}/{name}-{executor}.csv"
            runs[(name, executor)] = (
                [binary, "fetch", "--url", f"http://127.0.0.1:{port}", "-q",
                 "--executor", executor, "-o", output],
                output,
                [],
            )
    for _ in range(rounds):
        for command, _, times in runs.values():
            started = time.perf_counter()
            subprocess.run(command, check=True)
            times.append(time.perf_counter() - started)
    for executor in EXECUTORS:
        a, b = runs[("A", executor)], runs[("B", executor)]
        ma, mb = statistics.median(a[2]), statistics.median(b[2])
        same = open(a[1], "rb").read() == open(b[1], "rb").read()
        ratios = sorted(y / x for x, y in zip(a[2], b[2]))
        print(f"{executor}: A {ma * 1000:.1f} ms ({min(a[2]) * 1000:.1f}-{max(a[2]) * 1000:.1f}), "
              f"B {mb * 1000:.1f} ms ({min(b[2]) * 1000:.1f}-{max(b[2]) * 1000:.1f}), B/A {mb / ma:.3f} "
              f"(round by round {ratios[0]:.3f}-{ratios[-1]:.3f}), "
              f"same bytes: {same} (medians of {rounds} interleaved rounds, ranges in brackets)")
finally:
    server.kill()
