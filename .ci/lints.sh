#!/usr/bin/env bash
# Formatting, clippy on every target, the docs without broken links, and
# the builds nothing else makes.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
# The client depends on `prices` without its default features; nothing
# else builds it so.
cargo check --quiet -p prices --no-default-features
