#!/usr/bin/env python3
"""Dask's `distributed` doing what crates/redis-queue/examples/
executor_overhead.rs does: TASKS trivial tasks submitted, then gathered,
on a LocalCluster of 1, 2 and 4 worker processes of one thread each
(started, and waited for, before the clock starts), each submitted on
its own (`client.submit`) and all in one call (`client.map`, Dask's
quickest way in). Prints `dask-submit|dask-map WORKERS
MICROSECONDS-PER-TASK` a line, as the Rust side does.

Usage: dask_overhead.py [TASKS]   (in a venv with `distributed`)
"""
import logging
import sys
import time

from distributed import Client, LocalCluster


def increment(x):
    return x + 1


def main():
    tasks = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    logging.getLogger("distributed").setLevel(logging.ERROR)
    for workers in (1, 2, 4):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            client.wait_for_workers(workers)
            for how in ("submit", "map"):
                started = time.perf_counter()
                if how == "submit":
                    futures = [client.submit(increment, n, pure=False) for n in range(tasks)]
                else:  # one message for them all: Dask's quickest way in
                    futures = client.map(increment, range(tasks), pure=False)
                total = sum(client.gather(futures))
                elapsed = time.perf_counter() - started
                assert total == tasks * (tasks + 1) // 2
                print(f"dask-{how} {workers} {elapsed * 1e6 / tasks:.1f}", flush=True)


if __name__ == "__main__":
    main()
