#!/usr/bin/env bash
# `crypto_db import` of a generated CSV against sqlite3's own `.import` of
# the same file, alternated round by round: wall time and peak RSS of
# each (GNU time). sqlite3 is timed twice: `.import` alone into a table of
# the CSV's eight columns, and that plus the index on (exchange, symbol,
# day) that serving needs (our file has both, and the original's id).
#
# Usage: bench/import.sh [ROWS] [ROUNDS]   (2,000,000 rows, 3 rounds; about
#        3 minutes. 50,000,000 rows, one round: about 20 minutes and 12 GB
#        of disk.) PRICES_CSV=FILE uses a CSV that lib/make_prices_csv.py
#        made before instead of generating one (5 minutes at 50M rows).
# Needs sqlite3 (Debian: apt-get install sqlite3) and /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-2000000}
rounds=${2:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
command -v sqlite3 >/dev/null || { echo "sqlite3 is needed: apt-get install sqlite3" >&2; exit 1; }
cargo build --release --quiet --bin crypto_db
if [ -n "${PRICES_CSV:-}" ]; then
  ln -s "$(realpath "$PRICES_CSV")" "$work/prices.csv"
else
  echo "generating $rows rows..." >&2
  python3 bench/lib/make_prices_csv.py "$rows" "$work/prices.csv"
fi
measure() { # label command... -> "label seconds kilobytes"
  local label=$1; shift
  /usr/bin/time -f "$label %e %M" "$@" 2>&1 >/dev/null | tail -1
}
for round in $(seq "$rounds"); do
  rm -f "$work/ours.db" "$work/theirs.db"
  measure ours target/release/crypto_db import "$work/prices.csv" -o "$work/ours.db"
  measure sqlite3 sqlite3 "$work/theirs.db" \
    "CREATE TABLE price (exchange text not null, symbol text not null, day DATE not null, open DECIMAL(10, 4), high DECIMAL(10, 4), low DECIMAL(10, 4), close DECIMAL(10, 4), volume DECIMAL(10, 4));" \
    ".import --csv --skip 1 $work/prices.csv price"
  measure sqlite3+index sqlite3 "$work/theirs.db" "CREATE INDEX price_key ON price (exchange, symbol, day)"
  echo "round $round done" >&2
done > "$work/times"
python3 - "$work/times" "$rows" "$rounds" <<'PY'
import statistics, sys
times = {}
for line in open(sys.argv[1]):
    label, seconds, kb = line.split()
    times.setdefault(label, []).append((float(seconds), int(kb)))
ours = statistics.median(s for s, _ in times["ours"])
plain = statistics.median(s for s, _ in times["sqlite3"])
index = statistics.median(s for s, _ in times["sqlite3+index"])
print(f"{int(sys.argv[2]):,} rows, medians of {sys.argv[3]} rounds")
print(f"ours:             {ours:.2f} s, peak RSS {max(k for _, k in times['ours']) / 1024:.1f} MB")
print(f"sqlite3 .import:  {plain:.2f} s, peak RSS {max(k for _, k in times['sqlite3']) / 1024:.1f} MB")
print(f"  + the index:    {plain + index:.2f} s")
print(f"ours / sqlite3 .import: {ours / plain:.2f}x; ours / (.import + index): {ours / (plain + index):.2f}x")
PY
