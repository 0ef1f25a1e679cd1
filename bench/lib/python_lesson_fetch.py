#!/usr/bin/env python3
"""The lessons' fetch job in Python, as the lessons write it, to time it
against `crypto_db fetch` (bench/fetch.sh).

Usage: python_lesson_fetch.py BASE_URL threads|executor [WORKERS]

- threads:  lesson-producer-consumer.txt: a Queue of tasks, 32 Thread
            workers calling requests.get, a PriceResults table, join().
- executor: lesson-concurrent-futures.txt: the same worker function
            submitted 32 times to a ThreadPoolExecutor, results on a
            SimpleQueue.
Prints how many prices were found, so a run that fails is visible.
"""
import queue
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from queue import Queue, SimpleQueue
from threading import Thread

import requests

BASE_URL = sys.argv[1]
MODE = sys.argv[2]
MAX_WORKERS = int(sys.argv[3]) if len(sys.argv) > 3 else 32

EXCHANGES = requests.get(f"{BASE_URL}/exchanges").json()
SYMBOLS = requests.get(f"{BASE_URL}/symbols").json()
START_DATE = datetime(2020, 3, 1)
DATES = [(START_DATE + timedelta(days=i)).strftime('%Y-%m-%d') for i in range(31)]


def check_price(exchange, symbol, date, base_url=BASE_URL):
    resp = requests.get(f"{base_url}/price/{exchange}/{symbol}/{date}")
    return resp.json()


def fill(tasks):
    for exchange in EXCHANGES:
        for date in DATES:
            for symbol in SYMBOLS:
                tasks.put({'exchange': exchange, 'symbol': symbol, 'date': date})


def lesson_threads():
    tasks = Queue()
    fill(tasks)
    results = {e: {d: {s: None for s in SYMBOLS} for d in DATES} for e in EXCHANGES}

    def worker(task_queue):
        while True:
            try:
                task = task_queue.get(block=False)
            except queue.Empty:
                return
            exchange, symbol, date = task['exchange'], task['symbol'], task['date']
            results[exchange][date][symbol] = check_price(exchange, symbol, date)
            task_queue.task_done()

    threads = [Thread(target=worker, args=(tasks,)) for _ in range(MAX_WORKERS)]
    [t.start() for t in threads]
    tasks.join()
    return sum(1 for e in results.values() for d in e.values() for p in d.values() if p)


def lesson_executor():
    work_to_do = Queue()
    work_done = SimpleQueue()
    fill(work_to_do)

    def worker(task_queue, results_queue):
        while True:
            try:
                task = task_queue.get(block=False)
            except queue.Empty:
                return
            exchange, symbol, date = task['exchange'], task['symbol'], task['date']
            price = check_price(exchange, symbol, date)
            results_queue.put((price, exchange, symbol, date))
            task_queue.task_done()

    with ThreadPoolExecutor(max_workers=MAX_WORKERS) as ex:
        futures = [ex.submit(worker, work_to_do, work_done) for _ in range(MAX_WORKERS)]
        work_to_do.join()
    found = 0
    while True:
        try:
            price, exchange, symbol, date = work_done.get(block=False)
        except queue.Empty:
            break
        found += 1 if price else 0
    return found


found = lesson_threads() if MODE == "threads" else lesson_executor()
print(f"{found} prices found", file=sys.stderr)
