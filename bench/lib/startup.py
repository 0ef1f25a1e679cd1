#!/usr/bin/env python3
"""Starts a server command and measures the time until it first answers.

Usage: startup.py PORT PATH LOG -- COMMAND...

Prints "PID MILLISECONDS": the child's pid (left running, output in LOG)
and the milliseconds from spawning it to its first complete 200 answer to
GET PATH on 127.0.0.1:PORT.
"""
import http.client
import subprocess
import sys
import time

port, path, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
command = sys.argv[sys.argv.index("--") + 1:]
started = time.perf_counter()
child = subprocess.Popen(command, stdout=open(log, "w"), stderr=subprocess.STDOUT)
deadline = started + 30
while True:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        connection.request("GET", path)
        if connection.getresponse().status == 200:
            break
    except OSError:
        pass
    if child.poll() is not None or time.perf_counter() > deadline:
        sys.exit(f"server did not start: {command}")
    time.sleep(0.001)
print(child.pid, round((time.perf_counter() - started) * 1000, 1))
