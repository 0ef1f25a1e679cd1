#!/usr/bin/env bash
# `crypto_db --db FILE` on a file `crypto_db import` wrote: time from spawn to
# the first answer, RSS after 10,000 random /price requests (keys of
# bench/lib/make_prices_csv.py), and /price and /prices under wrk -c64.
# Usage: bench/db.sh FILE.db [PORT]   (make FILE.db with bench/import.sh's generator
#        and `crypto_db import`; about 30 s)
set -euo pipefail
DB=$(realpath "$1"); PORT=${2:-18701}
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin crypto_db
BIN=target/release/crypto_db
start=$(date +%s%N)
$BIN --port $PORT --db "$DB" > /tmp/db-$PORT.log 2>&1 & pid=$!
until curl -s -o /dev/null "http://127.0.0.1:$PORT/exchanges"; do sleep 0.005; done
ready=$(( ($(date +%s%N) - start) / 1000000 ))
python3 - "$PORT" <<'PY'
import random, sys, urllib.request, http.client
port = int(sys.argv[1])
random.seed(1)
c = http.client.HTTPConnection("127.0.0.1", port)
for i in range(10000):
    e = f"exchange{random.randrange(100):03d}"; s = f"sym{random.randrange(10):02d}"
    d = f"{1970 + random.randrange(5)}-{random.randrange(1,13):02d}-{random.randrange(1,29):02d}"
    c.request("GET", f"/price/{e}/{s}/{d}"); r = c.getresponse(); r.read()
PY
rss=$(awk '/^VmRSS/ {printf "%.1f", $2/1024}' /proc/$pid/status)
p=$(wrk -t2 -c64 -d5s --latency "http://127.0.0.1:$PORT/price/exchange042/sym03/1971-06-01" | awk '/Requests\/sec/ {r=$2} $1=="50%" {a=$2} $1=="99%" {b=$2} END {print r, a, b}')
q=$(wrk -t2 -c64 -d5s --latency "http://127.0.0.1:$PORT/prices/exchange042/sym03?start=1971-06-01&end=1971-06-30" | awk '/Requests\/sec/ {r=$2} $1=="50%" {a=$2} $1=="99%" {b=$2} END {print r, a, b}')
echo "$DB: ready ${ready} ms, RSS after 10k /price ${rss} MB; /price req/s p50 p99: $p; /prices (30 days): $q"
kill $pid
