#!/usr/bin/env python3
"""Python's ProcessPoolExecutor, timed the way
crates/concurrent/benches/process_pool.rs times ours: 2 workers, 2,000
trivial tasks, submitted one by one and through map(chunksize=100).
Medians of 11 rounds, microseconds per task, as JSON.
"""
import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

BATCH = 2_000


def echo(x):
    return x


def main():
    unchunked, chunked = [], []
    with ProcessPoolExecutor(max_workers=2) as ex:
        list(ex.map(echo, range(4)))  # start the workers first
        for _ in range(11):
            start = time.perf_counter()
            futures = [ex.submit(echo, i) for i in range(BATCH)]
            sum(f.result() for f in futures)
            unchunked.append((time.perf_counter() - start) / BATCH * 1e6)
            start = time.perf_counter()
            sum(ex.map(echo, range(BATCH), chunksize=100))
            chunked.append((time.perf_counter() - start) / BATCH * 1e6)
    print(json.dumps({"unchunked_us": statistics.median(unchunked), "chunked_us": statistics.median(chunked)}))


if __name__ == "__main__":
    main()
