#!/usr/bin/env bash
# Memory after connection storms: RSS of a crypto_db binary idle, after each
# of ROUNDS storms of CONNECTIONS connections (wrk, --sleep 1 so that every
# connection is open at once), and again IDLE_WAIT seconds after the last.
#
# Usage: bench/storm.sh [BINARY]   (env: ROUNDS=20 CONNECTIONS=10000 STORM=3s IDLE_WAIT=5)
# Needs wrk (Debian: apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/crypto_db}
ROUNDS=${ROUNDS:-20}
CONNECTIONS=${CONNECTIONS:-10000}
STORM=${STORM:-3s}
IDLE_WAIT=${IDLE_WAIT:-5}
PORT=${PORT:-18110}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
rss_mb() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

"$BIN" --port "$PORT" --sleep 1 > /dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
sleep 0.5
idle=$(rss_mb $pid)
peak=0
for round in $(seq "$ROUNDS"); do
  wrk -t2 -c"$CONNECTIONS" -d"$STORM" --timeout 10s "http://127.0.0.1:$PORT/price/bitstamp/btc/2020-04-01" > /dev/null 2>&1
  now=$(rss_mb $pid)
  peak=$(awk -v a="$peak" -v b="$now" 'BEGIN { print (b > a) ? b : a }')
done
sleep "$IDLE_WAIT"
after=$(rss_mb $pid)
echo "$BIN: idle ${idle} MB; after each storm, at most ${peak} MB; ${IDLE_WAIT} s after the last of $ROUNDS storms of $CONNECTIONS connections: ${after} MB ($(awk -v a="$after" -v b="$idle" 'BEGIN { printf "%.1f", a / b }')x idle)"
