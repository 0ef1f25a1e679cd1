#!/usr/bin/env bash
# The lessons' fetch job (1,116 requests), timed as whole processes, in one
# run: the Python lessons (32 threads + requests; the ThreadPoolExecutor
# version) against `crypto_db fetch` with each executor, against our server
# with no sleep and with --sleep 1.
#
# Needs hyperfine (apt-get install hyperfine) and python3-venv; installs
# requests into bench/.venv-original. Usage: bench/fetch.sh  (about 7 minutes)
set -euo pipefail
# With --against OLD_BINARY [NEW_BINARY] [ROUNDS]: the lesson's job with
# two binaries, alternated round by round (bench/lib/fetch_ab.py).
if [ "${1:-}" = --against ]; then shift; exec python3 "$(dirname "$0")/lib/fetch_ab.py" "$@"; fi
cd "$(dirname "$0")/.."
mkdir -p bench/results
report=bench/results/fetch-$(date -u +%Y%m%dT%H%M%SZ).md
work=$(mktemp -d)
command -v hyperfine >/dev/null || { echo "hyperfine is needed: apt-get install hyperfine" >&2; exit 1; }

cargo build --release --quiet --bin crypto_db
venv=bench/.venv-original
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import requests" 2>/dev/null || "$venv/bin/pip" install --quiet requests
py="$venv/bin/python bench/lib/python_lesson_fetch.py"
bin=target/release/crypto_db

$bin --port 18201 > "$work/fast.log" 2>&1 & fast=$!
$bin --port 18202 --sleep 1 > "$work/slow.log" 2>&1 & slow=$!
trap 'kill $fast $slow 2>/dev/null || true' EXIT
sleep 0.5
FAST=http://127.0.0.1:18201
SLOW=http://127.0.0.1:18202

echo "no sleep: hyperfine, 10 runs each..." >&2
hyperfine --style none --warmup 1 --runs 10 --export-json "$work/fast.json" \
  -n "python: lesson, 32 threads" "$py $FAST threads" \
  -n "python: ThreadPoolExecutor(32)" "$py $FAST executor" \
  -n "crypto_db fetch --executor threads" "$bin fetch --quiet --url $FAST -o $work/a.csv" \
  -n "crypto_db fetch --executor processes" "$bin fetch --quiet --url $FAST --executor processes -o $work/p.csv" \
  -n "crypto_db fetch --executor async" "$bin fetch --quiet --url $FAST --executor async -o $work/b.csv" \
  -n "crypto_db fetch --executor async --workers 1116" "$bin fetch --quiet --url $FAST --executor async --workers 1116 -o $work/c.csv" \
  > /dev/null

echo "--sleep 1: one run each (each takes 35 s or more)..." >&2
hyperfine --style none --runs 1 --export-json "$work/slow.json" \
  -n "python: lesson, 32 threads" "$py $SLOW threads" \
  -n "crypto_db fetch --executor threads" "$bin fetch --quiet --url $SLOW -o $work/d.csv" \
  -n "crypto_db fetch --executor processes" "$bin fetch --quiet --url $SLOW --executor processes -o $work/q.csv" \
  -n "crypto_db fetch --executor async" "$bin fetch --quiet --url $SLOW --executor async -o $work/e.csv" \
  -n "crypto_db fetch --executor async --workers 1116" "$bin fetch --quiet --url $SLOW --executor async --workers 1116 -o $work/f.csv" \
  > /dev/null

python3 - "$work/fast.json" "$work/slow.json" <<'PY' | tee "$report"
import json, sys, datetime, os
fast = json.load(open(sys.argv[1]))["results"]
slow = json.load(open(sys.argv[2]))["results"]
print(f"### Fetch: {datetime.date.today()}, {os.cpu_count()} cores, 1,116 requests, whole processes")
print()
print("Server with no sleep (median of 10 runs):")
print()
print("| client | median s | python lesson / it |")
print("|---|---|---|")
base = fast[0]["median"]
for r in fast:
    print(f"| {r['command']} | {r['median']:.3f} | {base / r['median']:.1f}x |")
print()
print("Server with `--sleep 1` (one run each; the bound with 32 workers is ceil(1116/32) x 1 s = 35 s):")
print()
print("| client | s | vs the 35 s bound |")
print("|---|---|---|")
for r in slow:
    t = r["times"][0]
    print(f"| {r['command']} | {t:.2f} | {100 * (t - 35) / 35:+.1f}% |")
PY
echo "report kept in $report" >&2
