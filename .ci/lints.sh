#!/usr/bin/env bash
# Formatting, clippy on every target, the docs without broken links, and
# the builds nothing else makes.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
# Builds nothing else makes: the client depends on `prices` without its
# default features, and a user of the API client alone builds it without
# the sweep's plot.
cargo check --quiet -p prices --no-default-features
cargo check --quiet -p crypto-db-client
