#!/usr/bin/env python3
"""Writes a CSV of N generated prices in the import format, fast and the
same every time: exchanges x symbols x consecutive days, numbers that mix
INTEGER and REAL forms, a repeated key every 10,000 rows.

Usage: make_prices_csv.py ROWS OUT.csv
"""
import datetime
import sys

rows, out = int(sys.argv[1]), sys.argv[2]
exchanges = [f"exchange{i:03d}" for i in range(100)]
symbols = [f"sym{i:02d}" for i in range(10)]
days_needed = -(-rows // (len(exchanges) * len(symbols)))
start = datetime.date(1970, 1, 1)
days = [(start + datetime.timedelta(days=d)).isoformat() for d in range(days_needed)]
with open(out, "w") as f:
    f.write("exchange,symbol,day,open,high,low,close,volume\n")
    n = 0
    for e in exchanges:
        for s in symbols:
            for i, d in enumerate(days):
                if n == rows:
                    break
                base = 100 + (n % 997) * 0.25
                volume = n % 5000 if n % 3 == 0 else f"{(n % 5000) * 1.5:.2f}"
                f.write(f"{e},{s},{d},{base},{base + 1.5},{base - 1},{int(base)},{volume}\n")
                n += 1
                if n % 10_000 == 0 and n < rows:
                    f.write(f"{e},{s},{d},{base},{base},{base},{base},1\n")
                    n += 1
