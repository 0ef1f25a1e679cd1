#!/usr/bin/env bash
# The concurrency library's benchmarks and their anchors, in one run:
#   criterion: crates/concurrent/benches/executor.rs and queue.rs
#              (ours vs rayon, threadpool, crossbeam-channel, std::sync::mpsc)
#   Python:    bench/lib/python_concurrency.py (ThreadPoolExecutor, queue.Queue)
# Prints a Markdown table of medians and ratios (kept in bench/results/).
#
# Usage: bench/library.sh           (about 3 minutes)
set -euo pipefail
# --interleaved [ROUNDS] [alone]: ours and the anchors round by round in
#   one process (crates/concurrent/benches/interleaved.rs);
# --rounds [RUNS] [ROUNDS]: that, in several fresh processes, every round
#   pooled: the figure BENCHMARKS.md reports (bench/lib/library_rounds.sh).
case "${1:-}" in
  --interleaved) shift; cd "$(dirname "$0")/.."; exec cargo bench -q -p concurrent --bench interleaved -- "${1:-11}" "${@:2}" ;;
  --rounds) shift; exec bash "$(dirname "$0")/lib/library_rounds.sh" "$@" ;;
esac
cd "$(dirname "$0")/.."
mkdir -p bench/results
report=bench/results/concurrency-$(date -u +%Y%m%dT%H%M%SZ).md

echo "criterion benches..." >&2
cargo bench --quiet -p concurrent --bench executor --bench queue -- --warm-up-time 2 --measurement-time 5 >&2
echo "python anchors..." >&2
python_json=$(python3 bench/lib/python_concurrency.py)

PYTHON_JSON="$python_json" python3 - <<'PY' | tee "$report"
import json, os, pathlib, datetime

root = pathlib.Path("target/criterion")

def median_ns(group, name, param):
    path = root / group / name / str(param) / "new" / "estimates.json"
    return json.loads(path.read_text())["median"]["point_estimate"]

py = json.loads(os.environ["PYTHON_JSON"])
batch, items = 10_000, 200_000
print(f"### Concurrency library: {datetime.date.today()}, {os.cpu_count()} cores, medians")
print()
print("Submit + result of a trivial task, 4 workers, batches of 10,000:")
print()
print("| executor | µs per task | vs ours |")
print("|---|---|---|")
ours = median_ns("submit_result_4_workers", "concurrent", batch) / batch / 1000
rows = [
    ("concurrent::ThreadPoolExecutor (ours)", ours),
    ("rayon (scope spawn)", median_ns("submit_result_4_workers", "rayon_scope_spawn", batch) / batch / 1000),
    ("threadpool crate", median_ns("submit_result_4_workers", "threadpool", batch) / batch / 1000),
    ("Python ThreadPoolExecutor", py["python_submit_result_us_per_task"]),
]
for name, us in rows:
    print(f"| {name} | {us:.3f} | {us / ours:.2f}x |")
print()
for pairs in (1, 4):
    group = f"queue_{pairs}p{pairs}c_bounded_1000"
    print(f"Queue throughput, {pairs} producer(s) / {pairs} consumer(s), bounded to 1,000, 200,000 items:")
    print()
    print("| queue | M items/s | ours / it |")
    print("|---|---|---|")
    ours_rate = items / median_ns(group, "concurrent_queue", items) * 1e3
    rows = [
        ("concurrent::Queue (ours, with task_done)", ours_rate),
        ("crossbeam-channel bounded", items / median_ns(group, "crossbeam_channel", items) * 1e3),
        ("std::sync::mpsc::sync_channel", items / median_ns(group, "std_mpsc_sync_channel", items) * 1e3),
        ("Python queue.Queue (with task_done)", py[f"python_queue_{pairs}p{pairs}c_items_per_s"] / 1e6),
    ]
    for name, rate in rows:
        print(f"| {name} | {rate:.2f} | {ours_rate / rate:.2f}x |")
    print()
PY
echo "report kept in $report" >&2
