#!/usr/bin/env bash
# The Redis executor's cost per task and its scaling, side by side in one
# run with our process pool and with Dask's `distributed` (installed from
# PyPI into bench/.venv-dask), rounds alternated (ours, Dask, ours, ...):
#   crates/redis-queue/examples/executor_overhead.rs (ours: Redis, processes)
#   bench/lib/dask_overhead.py (Dask: a LocalCluster of the same workers)
# 10,000 trivial tasks, submitted then collected, on 1, 2 and 4 worker
# processes of one thread; then 0.1 s tasks on 8, 16, 32 workers.
# Prints medians with their ranges.
# Usage: bench/redis_executor.sh [ROUNDS]   (3 rounds: about 8 minutes;
#        needs redis-server and python3-venv)
set -euo pipefail
rounds=${1:-3}
cd "$(dirname "$0")/.."
command -v redis-server >/dev/null || { echo "redis-server is needed: apt-get install redis-server" >&2; exit 1; }
cargo build --release --quiet -p crypto-db-redis-queue --example executor_overhead
venv=bench/.venv-dask
if ! "$venv/bin/python" -c "import distributed" 2>/dev/null; then
  echo "installing Dask's distributed into $venv..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet distributed
fi
work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --dir "$work" --save "" --appendonly no > "$work/redis.log" 2>&1 &
redis=$!
trap 'kill $redis 2>/dev/null || true; rm -rf "$work"' EXIT
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done
ours=target/release/examples/executor_overhead
for round in $(seq "$rounds"); do
  echo "round $round: ours" >&2
  "$ours" "redis://127.0.0.1:$port/bench$round" 1 >> "$work/times"
  echo "round $round: Dask" >&2
  "$venv/bin/python" bench/lib/dask_overhead.py 2>/dev/null >> "$work/times"
done
echo "scaling: ours" >&2
"$ours" "redis://127.0.0.1:$port/scaling" scaling >> "$work/times"
python3 - "$work/times" "$rounds" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    what, workers, value = line.split()[:3]
    runs.setdefault((what, int(workers)), []).append(float(value))
def figure(values):
    m = statistics.median(values)
    return f"{m:,.1f} ({min(values):,.1f}-{max(values):,.1f})" if len(values) > 1 else f"{m:,.3f}"
print(f"µs a task, 10,000 trivial tasks submitted then collected; medians of {sys.argv[2]} rounds (range)")
print()
print("| workers | Redis executor | process pool | Dask, submit | Dask, map | Dask submit / ours |")
print("|---|---|---|---|---|---|")
for w in (1, 2, 4):
    redis, pool = runs[("redis", w)], runs[("processes", w)]
    submit, mapped = runs[("dask-submit", w)], runs[("dask-map", w)]
    print(f"| {w} | {figure(redis)} | {figure(pool)} | {figure(submit)} | {figure(mapped)} | "
          f"{statistics.median(submit) / statistics.median(redis):.0f}x |")
print()
print("0.1 s tasks, ten per worker (ideal 1 s): " + ", ".join(
    f"{w} workers {runs[('scaling', w)][0]:.3f} s ({runs[('scaling', w)][0]:.3f}x)" for w in (8, 16, 32)))
PY
