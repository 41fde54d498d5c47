#!/usr/bin/env bash
# The benchmark command: set up .venv if needed, then every benchmark in benchmarks/ on a short
# profile plus the chaos run's CI profile, and one table. Extra args go to `position-manager
# bench` (e.g. --only latency, --write-readme).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/position-manager bench "$@"
