#!/usr/bin/env bash
# The test command: set up everything the tests need, then run the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
exec ./.venv/bin/python -m pytest -q "$@"
