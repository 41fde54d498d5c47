#!/usr/bin/env bash
# The test command: set up .venv if needed, then lint, type-check and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== ruff" && .venv/bin/ruff check . && .venv/bin/ruff format --check .
echo "== mypy" && .venv/bin/mypy position_manager rules simulator broker warehouse book streaming pipelines app tests benchmarks
echo "== pytest" && .venv/bin/python -m pytest "$@"
