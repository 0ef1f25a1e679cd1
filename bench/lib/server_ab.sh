#!/usr/bin/env bash
# Interleaved A/B of two crypto_db binaries and the fixed-body baseline:
# each round runs wrk against A and B, then the baseline, so a machine
# that drifts affects all three alike; A goes first in odd rounds, B in
# even ones, since the second of two runs back to back was measured a few
# per cent slower whichever binary it was. Prints each round, the
# medians, and the median of the rounds' B/A.
#
# Usage: bench/server.sh --against OLD_BINARY [NEW_BINARY]
#        (env: ROUNDS=7 DURATION=5s CONNECTIONS=64; VIEWER=1: B has a
#        viewer of /live the whole time, its event stream read by curl)
set -euo pipefail
cd "$(dirname "$0")/../.."
A=$1
B=${2:-target/release/crypto_db}
ROUNDS=${ROUNDS:-7}
DURATION=${DURATION:-5s}
C=${CONNECTIONS:-64}
TARGET=/price/bitstamp/btc/2020-04-01
cargo build --release --quiet -p crypto-db-server --example fixed_body_baseline
"$A" --port 18121 > /dev/null 2>&1 & pa=$!
"$B" --port 18122 > /dev/null 2>&1 & pb=$!
target/release/examples/fixed_body_baseline 18123 > /dev/null 2>&1 & pc=$!
pv=
trap 'kill $pa $pb $pc $pv 2>/dev/null || true' EXIT
sleep 0.5
if [ "${VIEWER:-}" = 1 ]; then
  curl -sN http://127.0.0.1:18122/live/events > /dev/null & pv=$!
fi
rps() { wrk -t2 -c"$C" -d"$DURATION" "http://127.0.0.1:$1$TARGET" | awk '/^Requests\/sec/ {print $2}'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
: > /tmp/ab.a; : > /tmp/ab.b; : > /tmp/ab.c
for round in $(seq "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then a=$(rps 18121); b=$(rps 18122); else b=$(rps 18122); a=$(rps 18121); fi
  c=$(rps 18123)
  echo "$a" >> /tmp/ab.a; echo "$b" >> /tmp/ab.b; echo "$c" >> /tmp/ab.c
  echo "round $round: A $a  B $b  baseline $c" >&2
done
ma=$(median < /tmp/ab.a); mb=$(median < /tmp/ab.b); mc=$(median < /tmp/ab.c)
range() { sort -g | awk -v f="$1" 'NR == 1 { lo = $1 } { hi = $1 } END { printf f "-" f, lo, hi }'; }
ratios=$(paste /tmp/ab.a /tmp/ab.b | awk '{ print $2 / $1 }')
# The rounds where A ran first, and those where B did: how much running
# second costs shows as the gap between the two.
a_first=$(awk 'NR % 2 == 1' <<< "$ratios" | median); b_first=$(awk 'NR % 2 == 0' <<< "$ratios" | median)
awk -v a="$ma" -v b="$mb" -v c="$mc" -v n="$ROUNDS" -v conn="$C" \
    -v ra="$(range %.0f < /tmp/ab.a)" -v rb="$(range %.0f < /tmp/ab.b)" \
    -v r="$(median <<< "$ratios")" -v rr="$(range %.2f <<< "$ratios")" \
    -v af="$a_first" -v bf="${b_first:-nan}" 'BEGIN {
  printf "medians of %d rounds, c=%d: A %.0f req/s (%s; %.1f%% of baseline), B %.0f req/s (%s; %.1f%% of baseline), baseline %.0f; B/A %.3f; the rounds\x27 B/A: median %.3f (%s), %.3f where A ran first, %.3f where B did\n",
    n, conn, a, ra, 100 * a / c, b, rb, 100 * b / c, c, b / a, r, rr, af, bf }'
