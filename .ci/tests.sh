#!/usr/bin/env bash
# The test command of README.md, exactly.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace
