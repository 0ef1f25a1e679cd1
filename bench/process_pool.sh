#!/usr/bin/env bash
# The process pool benchmark and its Python anchor, in one run:
#   criterion: crates/concurrent/benches/process_pool.rs
#   Python:    bench/lib/python_process_pool.py
# Prints a Markdown table of medians (kept in bench/results/).
# Usage: bench/process_pool.sh     (about 2 minutes)
set -euo pipefail
# With --against OLD_CHECKOUT [RUNS]: the round trip in another checkout
# and this one, alternated run by run (bench/lib/process_pool_ab.sh).
if [ "${1:-}" = --against ]; then shift; exec bash "$(dirname "$0")/lib/process_pool_ab.sh" "$@"; fi
cd "$(dirname "$0")/.."
mkdir -p bench/results
report=bench/results/process-pool-$(date -u +%Y%m%dT%H%M%SZ).md
cargo bench --quiet -p concurrent --bench process_pool -- --warm-up-time 2 --measurement-time 5 >&2
python_json=$(python3 bench/lib/python_process_pool.py)
PYTHON_JSON="$python_json" python3 - <<'PY' | tee "$report"
import json, os, pathlib, datetime
root = pathlib.Path("target/criterion")
def median_ns(*parts):
    return json.loads((root.joinpath(*parts) / "new" / "estimates.json").read_text())["median"]["point_estimate"]
py = json.loads(os.environ["PYTHON_JSON"])
batch = 2000
ours_unchunked = median_ns("process_round_trip_2_workers", "unchunked", str(batch)) / batch / 1000
ours_chunked = median_ns("process_round_trip_2_workers", "chunked_100", str(batch)) / batch / 1000
print(f"### Process pool: {datetime.date.today()}, {os.cpu_count()} cores, 2 workers, medians")
print()
print("| per-task round trip, trivial task | ours µs | Python µs | Python / ours |")
print("|---|---|---|---|")
print(f"| one message per task | {ours_unchunked:.2f} | {py['unchunked_us']:.2f} | {py['unchunked_us'] / ours_unchunked:.1f}x |")
print(f"| chunks of 100 | {ours_chunked:.2f} | {py['chunked_us']:.2f} | {py['chunked_us'] / ours_chunked:.1f}x |")
print()
seq = median_ns("hash_64MiB_in_8_tasks", "sequential") / 1e6
thr = median_ns("hash_64MiB_in_8_tasks", "threads_2") / 1e6
pro = median_ns("hash_64MiB_in_8_tasks", "processes_2") / 1e6
print("| hashing 64 MiB in 8 tasks | ms | speed-up |")
print("|---|---|---|")
print(f"| sequential | {seq:.1f} | 1.00x |")
print(f"| 2 threads | {thr:.1f} | {seq / thr:.2f}x |")
print(f"| 2 processes | {pro:.1f} | {seq / pro:.2f}x |")
PY
echo "report kept in $report" >&2
