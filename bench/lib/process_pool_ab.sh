#!/usr/bin/env bash
# The process pool's round trip (crates/concurrent/benches/process_pool.rs,
# 2 workers, 2,000 trivial tasks) in another checkout and in this one,
# alternated run by run; prints each run's per-task medians.
# Usage: bench/process_pool.sh --against OLD_CHECKOUT [RUNS]   (3 runs)
#   e.g. git worktree add /tmp/before b5c322f && bench/process_pool.sh --against /tmp/before
set -euo pipefail
cd "$(dirname "$0")/../.."
old=$(cd "$1" && pwd)
runs=${2:-3}
per_task() {
  python3 -c "import json, sys; print(f\"{json.load(open(sys.argv[1]))['median']['point_estimate'] / 2000 / 1000:.2f}\")" \
    "$1/target/criterion/process_round_trip_2_workers/$2/2000/new/estimates.json"
}
for run in $(seq "$runs"); do
  for tree in "$old" "$PWD"; do
    (cd "$tree" && cargo bench --quiet -p concurrent --bench process_pool -- \
      --warm-up-time 2 --measurement-time 5 process_round_trip > /dev/null 2>&1)
    echo "run $run $tree: unchunked $(per_task "$tree" unchunked) us, chunks of 100 $(per_task "$tree" chunked_100) us"
  done
done
