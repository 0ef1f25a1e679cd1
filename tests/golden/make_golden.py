#!/usr/bin/env python3
"""Writes the golden answers of the original crypto_db server, with Python's
own json.dumps, independently of our Rust serializer.

Usage: python3 tests/golden/make_golden.py PATH/TO/prices.db tests/golden

For every distinct (exchange, symbol, day) key it writes the body the
original answers to GET /price/{exchange}/{symbol}/{day}. The original runs
    SELECT exchange, symbol, open, high, low, close, volume, day FROM price
    WHERE exchange = ? AND symbol = ? AND day = ?
with no ORDER BY and keeps the first row, i.e. the first in SQLite's table
scan, which is rowid order. Running that query 29,189 times scans the table
29,189 times (minutes), so this script scans it once, in rowid order, and
keeps the first row of each key: the same rows.

Outputs (gzip with mtime 0, so the files are reproducible byte for byte):
  prices.golden.gz    exchange TAB symbol TAB day TAB body, one key a line
  exchanges.json      the body of GET /exchanges
  symbols.json        the body of GET /symbols
"""
import gzip
import json
import sqlite3
import sys
from pathlib import Path


def main(db_path, out_dir):
    out = Path(out_dir)
    db = sqlite3.connect(db_path)
    db.row_factory = sqlite3.Row
    rows = db.execute(
        "SELECT exchange, symbol, open, high, low, close, volume, day "
        "FROM price ORDER BY rowid"
    )
    first = {}
    for row in rows:
        key = (row["exchange"], row["symbol"], row["day"])
        if key not in first:
            first[key] = json.dumps(dict(row))
    lines = "".join(
        "\t".join(key) + "\t" + body + "\n" for key, body in sorted(first.items())
    )
    with open(out / "prices.golden.gz", "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
            gz.write(lines.encode("ascii"))

    # The original's own queries for the two lists.
    db.row_factory = None
    for name, column in (("exchanges", "exchange"), ("symbols", "symbol")):
        values = [
            v for (v,) in db.execute(
                f"SELECT DISTINCT {column} FROM price ORDER BY {column} ASC;"
            )
        ]
        (out / f"{name}.json").write_text(json.dumps(values))
    print(f"{len(first)} keys written to {out}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
