#!/usr/bin/env bash
# The long-running stress test of the process pool's pipeline (issue #12):
# random pools (1-4 workers, some replacing workers after a few tasks),
# random mixes of quick calls, short sleeps and panics, submitted one by
# one or mapped in chunks, from one or two threads; every answer checked
# against its own call. Not in CI: it runs for minutes. The tasks meant
# to panic print their messages in the workers; those lines are filtered.
# Usage: crates/concurrent/tests/process_pool_stress.sh [SECONDS]   (600 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
RUST_BACKTRACE=0 PROCESS_POOL_STRESS_SECONDS="${1:-600}" cargo test --release -q -p concurrent --test process_pool \
    stress_process_pool -- --ignored --nocapture 2> >(grep -v "panicked at\|^call \|note: run with\|^$" >&2)
