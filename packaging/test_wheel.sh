#!/usr/bin/env bash
# The wheel as a Python learner gets it: built the standard PEP 517 way
# (`pip wheel .`), installed with `pip install --no-index` into a fresh
# virtualenv, and run from there with no cargo on PATH; then the lessons'
# own Python (tests/python/lessons.py) against that server, and
# `python -m crypto_db --help`. Run by .ci/run; needs python3 with venv, a
# python3 with `requests`, and PyPI for the build's own requirements
# (maturin, ziglang).
#
# Usage: packaging/test_wheel.sh [PYTHON_WITH_REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."
client_python=${1:-python3}
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "building the wheel: pip wheel ."
python3 -m pip wheel . --no-deps --quiet -w "$work/wheels"
wheel=$(ls "$work"/wheels/crypto_db-*.whl)
echo "built $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KiB)"
case "$wheel" in
  *manylinux2014_x86_64*) ;;
  *) echo "expected a manylinux2014 wheel, got $(basename "$wheel")" >&2; exit 1 ;;
esac

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --no-index "$wheel"
# What a learner's shell has: the venv and the system, no Rust toolchain.
learner_path="$work/venv/bin:/usr/local/bin:/usr/bin:/bin"
if PATH=$learner_path command -v cargo >/dev/null; then
  echo "cargo is on the learner's PATH; the test would prove nothing" >&2
  exit 1
fi
echo "installed: $(PATH=$learner_path command -v crypto_db)"

help=$(PATH=$learner_path "$work/venv/bin/python" -m crypto_db --help)
grep -q "crypto_db" <<<"$help" || { echo "python -m crypto_db --help printed: $help" >&2; exit 1; }
echo "python -m crypto_db --help: ok"

PATH=$learner_path crypto_db --port 0 > "$work/banner" 2> "$work/server.log" &
server_pid=$!
for _ in $(seq 100); do
  url=$(grep -o 'http://[0-9.:]*' "$work/banner" || true)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "the server printed no URL" >&2; cat "$work/server.log" >&2; exit 1; }
echo "serving on $url; the lessons' Python against it:"
CRYPTO_DB_URL=$url "$client_python" tests/python/lessons.py
