#!/usr/bin/env bash
# The library against its anchors (crossbeam-channel, rayon), interleaved
# round by round; prints per-item medians and ratios (issue #12's goals).
# Usage: bench/library_ab.sh [ROUNDS] [alone]   (11 rounds by default;
# `alone`: submit + result with each pool alone in the process)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -q -p concurrent --bench interleaved -- "${1:-11}" "${@:2}"
