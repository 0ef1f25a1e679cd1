#!/usr/bin/env python3
"""The Python anchors of the concurrency benchmarks, timed the same way as
crates/concurrent/benches/{executor,queue}.rs, so the two can be compared
side by side in one run (bench/concurrency.sh).

- submit + result of a trivial task on ThreadPoolExecutor(4): a batch of
  10,000 submits, then every result; microseconds per task.
- queue.Queue(maxsize=1000) throughput with 1 producer/1 consumer and with
  4/4, 200,000 items, the consumer calling task_done(); items per second.

Each figure is the median of several rounds. Prints JSON.
"""
import json
import queue
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

BATCH = 10_000
ITEMS = 200_000
BOUND = 1_000
ROUNDS = 5


def trivial(i):
    return i


def submit_result_us_per_task():
    times = []
    with ThreadPoolExecutor(max_workers=4) as ex:
        for _ in range(ROUNDS):
            start = time.perf_counter()
            futures = [ex.submit(trivial, i) for i in range(BATCH)]
            sum(f.result() for f in futures)
            times.append((time.perf_counter() - start) / BATCH * 1e6)
    return statistics.median(times)


def queue_items_per_second(pairs):
    rates = []
    for _ in range(ROUNDS):
        q = queue.Queue(maxsize=BOUND)
        per_thread = ITEMS // pairs

        def produce():
            for i in range(per_thread):
                q.put(i)

        def consume():
            for _ in range(per_thread):
                q.get()
                q.task_done()

        threads = [threading.Thread(target=produce) for _ in range(pairs)]
        threads += [threading.Thread(target=consume) for _ in range(pairs)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rates.append(ITEMS / (time.perf_counter() - start))
    return statistics.median(rates)


print(json.dumps({
    "python_submit_result_us_per_task": submit_result_us_per_task(),
    "python_queue_1p1c_items_per_s": queue_items_per_second(1),
    "python_queue_4p4c_items_per_s": queue_items_per_second(4),
}))
