#!/usr/bin/env python3
"""Writes a table of doubles and Python's repr of each, the oracle for our
float formatting (crates/prices/tests/python_repr.rs).

Usage: python3 make_float_table.py > float_repr.txt && gzip -n -9 float_repr.txt

Each line: the double's 64 bits in hex, a tab, repr(x). The values mix
uniformly random bit patterns (every exponent), price-like decimals with few
digits, integers as floats, powers of ten and their neighbours around the
1e-4 and 1e16 notation thresholds, and subnormals. The seed is fixed.
"""
import math
import random
import struct

rng = random.Random(20261121)


def bits(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def values():
    for _ in range(8000):
        x = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        if math.isfinite(x):
            yield x
    for _ in range(6000):
        digits = rng.randint(1, 9)
        yield round(rng.uniform(0, 10 ** rng.randint(-6, 18)), digits)
    for _ in range(2000):
        yield float(rng.randint(-10 ** 17, 10 ** 17))
    for exp in range(-30, 31):
        p = 10.0 ** exp
        for x in (p, math.nextafter(p, 0), math.nextafter(p, math.inf), -p, 1.5 * p, 9.999 * p):
            yield x
    for _ in range(500):
        yield struct.unpack("<d", struct.pack("<Q", rng.getrandbits(52)))[0]
    yield from (0.0, -0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.1, 0.3)


for x in values():
    print(f"{bits(x):016x}\t{x!r}")
