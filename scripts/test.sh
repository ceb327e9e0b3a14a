#!/usr/bin/env bash
# The test command (CI and the README): set up everything the tests need, then run every tier.
#   bash scripts/test.sh            all tiers: unit, integration, quality, browser
#   bash scripts/test.sh --fast     the fast tier only (what a bare `pytest` runs): no Java, Chromium or stamps
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "--fast" ]]; then
    shift
    bash scripts/setup.sh --dev
    exec ./.venv/bin/python -m pytest -q "$@"
fi
bash scripts/setup.sh --test
exec ./.venv/bin/python -m pytest -q -m "" "$@"
