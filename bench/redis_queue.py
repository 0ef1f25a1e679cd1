#!/usr/bin/env python3
"""The fetch job through Redis (`fetch --queue` + `crypto_db worker`
processes) against the same job in one process, interleaved round by round.

1. Overhead: every exchange x symbol x day of 2020 (13,176 tasks), a
   server with no sleep, so the cost per task is the machinery's: with 1, 2
   and 4 worker processes of 8 threads each, next to the in-process fetch
   with as many threads in all.
2. Scaling: 480 tasks against a server that sleeps 0.1 s per answer, 1, 2
   and 4 worker processes of 8 threads: the job should take close to
   tasks x 0.1 s / workers.

Needs redis-server (Debian's package) and a release build.
Usage: bench/redis_queue.py [ROUNDS]   (5 by default; about 4 minutes)
"""

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BIN = "target/release/crypto_db"
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
THREADS = 8
PROCESSES = [1, 2, 4]
YEAR = ["--start", "2020-01-01", "--end", "2020-12-31"]
SLEEPY = ["--sample", "480"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port):
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            return
        except OSError:
            time.sleep(0.01)
    raise SystemExit(f"nothing listens on {port}")


def start(args, port):
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(port)
    return process


def timed(args):
    started = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def in_process(url, workers, job, out):
    return timed([BIN, "fetch", "-q", "--url", url, "--workers", str(workers), "-o", out, *job])


def through_redis(redis, name, url, processes, job, out):
    queue = f"redis://127.0.0.1:{redis}/{name}"
    workers = [
        subprocess.Popen(
            [BIN, "worker", "--queue", queue, "--url", url, "--workers", str(THREADS)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(processes)
    ]
    time.sleep(0.3)  # the workers are up and waiting, as they would be
    took = timed([BIN, "fetch", "-q", "--url", url, "--queue", queue, "-o", out, *job])
    for worker in workers:
        worker.wait(timeout=60)
    return took


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "crypto_db"], check=True)
    work = tempfile.mkdtemp()
    redis = free_port()
    fast, slow = free_port(), free_port()
    services = [
        start(["redis-server", "--port", str(redis), "--bind", "127.0.0.1", "--dir", work,
               "--save", "", "--appendonly", "no"], redis),
        start([BIN, "--port", str(fast)], fast),
        start([BIN, "--port", str(slow), "--sleep", "0.1"], slow),
    ]
    fast_url, slow_url = f"http://127.0.0.1:{fast}", f"http://127.0.0.1:{slow}"
    out = os.path.join(work, "out.csv")
    try:
        times = {}
        for round_ in range(ROUNDS):
            print(f"round {round_ + 1}/{ROUNDS}", file=sys.stderr)
            for p in PROCESSES:
                # Interleaved: ours, anchor, ours, anchor...
                times.setdefault(("year", "redis", p), []).append(
                    through_redis(redis, f"year-{round_}-{p}", fast_url, p, YEAR, out))
                times.setdefault(("year", "local", p), []).append(
                    in_process(fast_url, p * THREADS, YEAR, out))
                times.setdefault(("sleep", "redis", p), []).append(
                    through_redis(redis, f"sleep-{round_}-{p}", slow_url, p, SLEEPY, out))
                times.setdefault(("sleep", "local", p), []).append(
                    in_process(slow_url, p * THREADS, SLEEPY, out))
    finally:
        for service in services:
            service.terminate()
    median = {key: statistics.median(value) for key, value in times.items()}
    tasks = 13176
    print(f"\n1. Overhead: 2020 in full ({tasks} tasks), no sleep; medians of {ROUNDS} rounds\n")
    print("| worker processes x 8 threads | through Redis | in one process (same threads) | Redis / local | tasks/s via Redis | extra per task |")
    print("|---|---|---|---|---|---|")
    for p in PROCESSES:
        r, l = median[("year", "redis", p)], median[("year", "local", p)]
        print(f"| {p} | {r:.2f} s | {l:.2f} s | {r / l:.2f}x | {tasks / r:,.0f} | {(r - l) / tasks * 1e6:.0f} µs |")
    print(f"\n2. Scaling: 480 tasks, server --sleep 0.1; medians of {ROUNDS} rounds\n")
    print("| workers in all | through Redis | ideal 480 x 0.1 s / W | Redis / ideal | in one process |")
    print("|---|---|---|---|---|")
    for p in PROCESSES:
        w = p * THREADS
        r, l = median[("sleep", "redis", p)], median[("sleep", "local", p)]
        ideal = 480 * 0.1 / w
        print(f"| {p} x {THREADS} = {w} | {r:.2f} s | {ideal:.2f} s | {r / ideal:.2f}x | {l:.2f} s |")


if __name__ == "__main__":
    main()
