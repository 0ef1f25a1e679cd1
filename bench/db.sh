#!/usr/bin/env bash
# `crypto_db --db FILE` on a file `crypto_db import` wrote, served from the
# file, side by side in one run with the same rows loaded in memory (files
# up to 5,000,000 rows) and with the original server reading the same
# file: time to the first answer, RSS after 10,000 random /price, /price at
# 1 and 64 connections and /prices (30 days) at 64, requests drawn at random
# over the file; and the original on the file without the index (its own
# schema: a table scan a request).
#
# Usage: bench/db.sh FILE.db [ROUNDS]   (3 rounds: about 2 minutes for 2M
#        rows, 5 for 50M; make FILE.db with lib/make_prices_csv.py and
#        `crypto_db import`; needs wrk and python3-venv, and free disk for a
#        copy of FILE.db)
set -euo pipefail
db=$(realpath "$1"); rounds=${2:-3}
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet --bin crypto_db
source bench/lib/original_venv.sh
python3 bench/lib/db_rounds.py "$db" "$rounds" target/release/crypto_db "$venv/bin/python"
