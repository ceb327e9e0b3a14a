#!/usr/bin/env bash
# Set up captioner in ./.venv: Python packages (and, with --test, what the test suite needs:
# pytest, playwright, and Java for METEOR / the PTB tokenizer). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
[[ "${1:-}" == "--test" ]] && with_tests=1

python=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
    "$python" -m venv .venv
fi
pip="./.venv/bin/python -m pip"
if [[ $with_tests == 1 ]]; then
    $pip install -q -r requirements-test.txt
else
    $pip install -q -r requirements.txt
fi
$pip install -q --no-deps --no-build-isolation -e .

if [[ $with_tests == 1 ]] && ! command -v java >/dev/null 2>&1; then
    echo "installing Java (METEOR and the coco-caption tokenizer need it)"
    if [[ $(id -u) == 0 ]]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq && $sudo apt-get install -y -qq default-jre-headless >/dev/null
fi
