#!/usr/bin/env bash
# The library against its anchors over several runs, pooled: each run is
# a fresh process of the interleaved benchmark (a process tends to stay in one
# mode, fast or slow, for its whole life), every round of every run is
# kept, and each comparison's figure is the median of all of them, with
# the range and the quartiles of the round-by-round ratio.
# Usage: bench/library.sh --rounds [RUNS] [ROUNDS]   (5 runs of 11 rounds)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
rounds=${2:-11}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for run in $(seq "$runs"); do
  ROUNDS_OUT=$out cargo bench -q -p concurrent --bench interleaved -- "$rounds" > /dev/null
  echo "run $run of $runs done" >&2
done
python3 - "$out" "$runs" "$rounds" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, ours, anchor = line.rstrip("\n").split("\t")
    rows.setdefault(name, []).append((int(ours), int(anchor)))
print(f"{sys.argv[2]} runs x {sys.argv[3]} rounds, every round pooled; ours/anchor time")
for name, pairs in rows.items():
    ratios = sorted(o / a for o, a in pairs)
    q = statistics.quantiles(ratios, n=4)
    print(f"{name:<42} median {statistics.median(ratios):.2f}  quartiles {q[0]:.2f}-{q[2]:.2f}  "
          f"range {ratios[0]:.2f}-{ratios[-1]:.2f}  ({len(ratios)} rounds)")
PY
