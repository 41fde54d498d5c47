#!/usr/bin/env bash
# The run command: set up .venv if needed, then bring the whole system up (`position-manager up`:
# Redis, the simulator and its moving market, the worker, the Dagster UI, a live table) until
# Ctrl-C. Extra args go to `up`, e.g. --speed 120, --for 300, --no-ui.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/position-manager up "$@"
