#!/usr/bin/env bash
# The run command: set up .venv if needed, then run the main job on the embedded defaults
# (simulator broker, local Redis, DuckDB file under ./data, sample data). Extra args go to the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/position-manager run "$@"
