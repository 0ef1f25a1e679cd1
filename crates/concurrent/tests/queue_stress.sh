#!/usr/bin/env bash
# The long-running stress test of the lock-free Queue (issue #12): random
# pipelines (1-6 producers, 1-6 consumers, bounds from 1 to unbounded, up
# to 50,000 items each), every one checked for loss, duplication and
# per-producer order, and puts racing a shutdown. Not in CI: it runs for minutes.
# Usage: crates/concurrent/tests/queue_stress.sh [SECONDS]   (600 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
QUEUE_STRESS_SECONDS="${1:-600}" cargo test --release -q -p concurrent --test queue \
    stress_queue -- --ignored --nocapture
