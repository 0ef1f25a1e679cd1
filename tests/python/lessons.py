"""The lessons' own Python, run unchanged against our server.

Each test does what a learner does in the two lessons (`requests`,
`queue.Queue`, `threading`, `concurrent.futures`), plus what clients nobody
on the team wrote ran into (`http.client` reusing a connection after a
pause, sockets that half-close, a BASE_URL with a trailing slash). Results
are compared with the golden answers Python's json.dumps made from the
reference database.

    CRYPTO_DB_URL=http://127.0.0.1:8080 python3 tests/python/lessons.py

Run by tests/python_clients.rs against the real binary.
"""

import concurrent.futures as cf
import gzip
import http.client
import json
import multiprocessing as mp
import os
import queue
import socket
import threading
import time
import unittest
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import datetime, timedelta
from queue import Queue, SimpleQueue
from threading import Thread
from urllib.parse import urlsplit

import requests

BASE_URL = os.environ["CRYPTO_DB_URL"]
HERE = os.path.dirname(os.path.abspath(__file__))
START_DATE = datetime(2020, 3, 1)
DATES = [(START_DATE + timedelta(days=i)).strftime("%Y-%m-%d") for i in range(31)]
# How long http.client waits before reusing its connection; 11 s is the pause
# that found the bug (the server's head timeout is 10 s).
PAUSE = float(os.environ.get("CRYPTO_DB_PAUSE", "11"))


def golden():
    """{(exchange, symbol, day): the original's body, parsed}"""
    answers = {}
    with gzip.open(os.path.join(HERE, "..", "golden", "prices.golden.gz"), "rt") as lines:
        for line in lines:
            exchange, symbol, day, body = line.rstrip("\n").split("\t", 3)
            answers[(exchange, symbol, day)] = json.loads(body)
    return answers


GOLDEN = golden()


# The lesson's function, word for word but for the base URL.
def check_price(exchange, symbol, date, base_url=BASE_URL):
    resp = requests.get(f"{base_url}/price/{exchange}/{symbol}/{date}")
    return resp.json()


def check_price_tuple(arg):
    exchange, symbol, date = arg
    resp = requests.get(f"{BASE_URL}/price/{exchange}/{symbol}/{date}")
    return resp.json()


class TheLessonsCalls(unittest.TestCase):
    def test_exchanges_symbols_and_a_price(self):
        exchanges = requests.get(f"{BASE_URL}/exchanges").json()
        self.assertEqual(len(exchanges), 12)
        self.assertIn("bitstamp", exchanges)
        self.assertEqual(requests.get(f"{BASE_URL}/symbols").json(), ["btc", "eth", "ltc"])
        price = check_price("bitstamp", "btc", "2020-04-01")
        self.assertEqual(price, GOLDEN[("bitstamp", "btc", "2020-04-01")])
        self.assertEqual(price["close"], 6421.14)

    def test_a_day_without_data_is_none(self):
        self.assertIsNone(check_price("bitstamp", "btc", "2001-01-01"))

    def test_a_base_url_with_a_trailing_slash_works_as_with_the_original(self):
        base = BASE_URL + "/"
        self.assertEqual(requests.get(f"{base}/symbols").json(), ["btc", "eth", "ltc"])
        self.assertEqual(
            requests.get(f"{base}/price/bitstamp/btc/2020-04-01").json(),
            GOLDEN[("bitstamp", "btc", "2020-04-01")],
        )

    def test_an_inner_double_slash_is_redirected_and_followed(self):
        resp = requests.get(f"{BASE_URL}/price//bitstamp/btc/2020-04-01")
        self.assertEqual(resp.json(), GOLDEN[("bitstamp", "btc", "2020-04-01")])
        self.assertEqual([r.status_code for r in resp.history], [308])

    def test_errors_read_as_the_originals(self):
        resp = requests.get(f"{BASE_URL}/nope")
        with self.assertRaises(requests.HTTPError) as raised:
            resp.raise_for_status()
        self.assertIn("404 Client Error: NOT FOUND for url", str(raised.exception))
        resp = requests.post(f"{BASE_URL}/exchanges")
        self.assertEqual((resp.status_code, resp.reason), (405, "METHOD NOT ALLOWED"))


class TheLessonsJobs(unittest.TestCase):
    def setUp(self):
        self.exchanges = requests.get(f"{BASE_URL}/exchanges").json()
        self.symbols = requests.get(f"{BASE_URL}/symbols").json()
        self.tasks = [(e, s, d) for e in self.exchanges for d in DATES for s in self.symbols]
        self.assertEqual(len(self.tasks), 12 * 3 * 31)

    def assert_all_prices(self, found):
        """`found` maps every task to what check_price returned."""
        self.assertEqual(set(found), set(self.tasks))
        for task in self.tasks:
            self.assertEqual(found[task], GOLDEN.get(task), task)

    def test_producer_consumer_with_a_queue_and_32_threads(self):
        # lesson-producer-consumer: Queue, 32 Threads, get(block=False), task_done, join.
        tasks = Queue()
        for exchange, symbol, date in self.tasks:
            tasks.put({"exchange": exchange, "symbol": symbol, "date": date})
        results = {}

        def worker(task_queue, results):
            while True:
                try:
                    task = task_queue.get(block=False)
                except queue.Empty:
                    return
                exchange, symbol, date = task["exchange"], task["symbol"], task["date"]
                price = check_price(exchange, symbol, date)
                results[(exchange, symbol, date)] = price
                task_queue.task_done()

        threads = [Thread(target=worker, args=(tasks, results)) for _ in range(32)]
        [t.start() for t in threads]
        tasks.join()
        self.assertEqual(tasks.qsize(), 0)
        for t in threads:
            t.join()
        self.assert_all_prices(results)

    def test_producer_consumer_on_a_thread_pool_executor(self):
        # lesson-concurrent-futures: Queue + SimpleQueue, 32 workers submitted.
        work_to_do, work_done = Queue(), SimpleQueue()
        for exchange, symbol, date in self.tasks:
            work_to_do.put({"exchange": exchange, "symbol": symbol, "date": date})

        def worker(task_queue, results_queue):
            while True:
                try:
                    task = task_queue.get(block=False)
                except queue.Empty:
                    return
                exchange, symbol, date = task["exchange"], task["symbol"], task["date"]
                price = check_price(exchange, symbol, date)
                results_queue.put((price, exchange, symbol, date))
                task_queue.task_done()

        with ThreadPoolExecutor(max_workers=32) as ex:
            futures = [ex.submit(worker, work_to_do, work_done) for _ in range(32)]
            work_to_do.join()
        self.assertTrue(all(f.done() for f in futures))
        found = {}
        while True:
            try:
                price, exchange, symbol, date = work_done.get(block=None)
            except queue.Empty:
                break
            found[(exchange, symbol, date)] = price
        self.assert_all_prices(found)

    def test_submit_as_completed_and_map(self):
        with ThreadPoolExecutor(max_workers=10) as ex:
            future = ex.submit(check_price, "bitstamp", "btc", "2020-04-01")
            self.assertEqual(future.result()["close"], 6421.14)
            futures = {
                ex.submit(check_price, exchange, "btc", "2020-04-01"): exchange
                for exchange in self.exchanges
            }
            for future in cf.as_completed(futures):
                exchange = futures[future]
                self.assertEqual(future.result(), GOLDEN.get((exchange, "btc", "2020-04-01")))
            results = ex.map(check_price_tuple, [(e, "btc", "2020-04-01") for e in self.exchanges])
            self.assertEqual(
                list(results), [GOLDEN.get((e, "btc", "2020-04-01")) for e in self.exchanges]
            )

    def test_a_process_pool_executor(self):
        with ProcessPoolExecutor(max_workers=10, mp_context=mp.get_context("fork")) as ex:
            future = ex.submit(check_price, "bitstamp", "btc", "2020-04-01")
            self.assertEqual(future.result()["close"], 6421.14)
            found = dict(zip(self.tasks, ex.map(check_price_tuple, self.tasks, chunksize=16)))
        self.assert_all_prices(found)


class BeyondTheOriginal(unittest.TestCase):
    """Our range API, read the way a Python user would: `requests` follows
    the `Link` header (`resp.links`), the `csv` module reads the CSV."""

    def test_a_month_in_one_request_equals_31_lesson_requests(self):
        resp = requests.get(f"{BASE_URL}/prices/bitstamp/btc", params={"start": DATES[0], "end": DATES[-1]})
        resp.raise_for_status()
        self.assertEqual(resp.json(), [check_price("bitstamp", "btc", d) for d in DATES])

    def test_pages_follow_the_link_header(self):
        rows, url = [], f"{BASE_URL}/prices/kraken/eth?start=2020-01-01&end=2020-12-31&limit=100"
        while url:
            resp = requests.get(url)
            rows += resp.json()
            url = resp.links.get("next", {}).get("url")
        self.assertEqual([row["day"] for row in rows], sorted(row["day"] for row in rows))
        self.assertEqual(rows, [p for p in (GOLDEN.get(("kraken", "eth", r["day"])) for r in rows)])
        self.assertGreater(len(rows), 300)

    def test_csv_reads_with_the_same_numbers(self):
        import csv
        import io

        resp = requests.get(f"{BASE_URL}/prices/bitstamp/btc", params={"start": DATES[0], "end": DATES[-1], "format": "csv"})
        self.assertEqual(resp.headers["Content-Type"], "text/csv; charset=utf-8")
        for row in csv.DictReader(io.StringIO(resp.text)):
            expected = GOLDEN[("bitstamp", "btc", row["day"])]
            self.assertEqual(float(row["close"]), expected["close"])


def raw_exchange(request, half_close=True):
    host, port = urlsplit(BASE_URL).hostname, urlsplit(BASE_URL).port
    with socket.create_connection((host, port), timeout=30) as s:
        s.sendall(request)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk


class ClientsNobodyHereWrote(unittest.TestCase):
    def test_http_client_reuses_its_connection_after_a_pause(self):
        # A learner pausing in a notebook: the connection must still be there.
        url = urlsplit(BASE_URL)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        conn.request("GET", "/symbols")
        self.assertEqual(conn.getresponse().read(), b'["btc", "eth", "ltc"]')
        time.sleep(PAUSE)
        conn.request("GET", "/exchanges")
        resp = conn.getresponse()
        self.assertEqual((resp.status, resp.reason), (200, "OK"))
        self.assertEqual(len(json.loads(resp.read())), 12)
        conn.request("GET", "/nope")
        resp = conn.getresponse()
        resp.read()
        self.assertEqual((resp.status, resp.reason), (404, "NOT FOUND"))
        conn.close()

    def test_a_half_closed_socket_gets_its_answer(self):
        # What `nc -q 1` and `nc -N` do.
        for _ in range(20):
            for request in (
                b"GET /exchanges HTTP/1.0\r\n\r\n",
                b"GET /exchanges HTTP/1.1\r\nHost: x\r\n\r\n",
            ):
                answer = raw_exchange(request)
                self.assertIn(b" 200 OK\r\n", answer)
                self.assertTrue(answer.endswith(b'"okex", "poloniex"]'), answer)

    def test_pipelined_requests_then_a_half_close(self):
        # Beyond the original, which answers HTTP/1.0 and closes after one
        # answer: ours keeps HTTP/1.1 connections (docs/server.md, "Compared with
        # the original"), so all four answers come back, in order.
        answer = raw_exchange(
            b"GET /symbols HTTP/1.1\r\nHost: x\r\n\r\n" * 3
            + b"GET /price/bitstamp/btc/2020-04-01 HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        self.assertEqual(answer.count(b"HTTP/1.1 200 OK\r\n"), 4)
        self.assertTrue(answer.endswith(b'"day": "2020-04-01"}'))

    def test_a_lower_case_method(self):
        answer = raw_exchange(b"get /symbols HTTP/1.0\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.0 200 OK\r\n"), answer)
        self.assertTrue(answer.endswith(b'["btc", "eth", "ltc"]'))

    def test_urllib_sends_what_a_url_cannot_hold_as_it_was_typed(self):
        # `urlopen` does not encode a quote, `<` or `>`; the original reads
        # them (Werkzeug), so ours does too.
        import urllib.request

        with urllib.request.urlopen(BASE_URL + '/exchanges?q="<x>"', timeout=30) as resp:
            self.assertEqual(resp.status, 200)
            self.assertEqual(len(json.loads(resp.read())), 12)

    def test_http_client_sends_them_on_a_reused_connection(self):
        # Every request of a kept-alive connection is read as Werkzeug
        # reads it, not only the first.
        url = urlsplit(BASE_URL)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        conn.request("GET", "/symbols")
        self.assertEqual(conn.getresponse().read(), b'["btc", "eth", "ltc"]')
        conn.request("GET", "/price/bitstamp/<btc>/2020-04-01")
        resp = conn.getresponse()
        self.assertEqual((resp.status, resp.read()), (200, b"null"))
        conn.request("GET", '/exchanges?q="x"')
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        self.assertEqual(len(json.loads(resp.read())), 12)
        conn.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
