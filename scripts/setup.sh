#!/usr/bin/env bash
# Set up captioner in ./.venv: Python packages (and, with --test, what the test suite needs:
# pytest, playwright, Java for METEOR / the PTB tokenizer, Chromium for the web app's browser
# test, and the Tux Paint stamps for the real-objects scenes; with --dev, only the Python packages
# the fast test tier needs). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
[[ "${1:-}" == "--test" ]] && with_tests=1
with_dev=0
[[ "${1:-}" == "--dev" ]] && with_dev=1

python=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
    "$python" -m venv .venv
fi
pip="./.venv/bin/python -m pip"
if [[ $with_tests == 1 || $with_dev == 1 ]]; then
    $pip install -q -r requirements-test.txt
else
    $pip install -q -r requirements.txt
fi
$pip install -q --no-deps --no-build-isolation -e .

if [[ $(id -u) == 0 ]]; then sudo=""; else sudo="sudo"; fi
if [[ $with_tests == 1 ]] && ! command -v java >/dev/null 2>&1; then
    echo "installing Java (METEOR and the coco-caption tokenizer need it)"
    $sudo apt-get update -qq && $sudo apt-get install -y -qq default-jre-headless >/dev/null
fi
# The Tux Paint stamps (Debian packages): the tests generate scenes of real objects from them.
if [[ $with_tests == 1 ]]; then
    bash scripts/fetch_tuxpaint.sh .cache/tuxpaint
fi
# Debian's Chromium: Playwright's own browser download does not work on the project's machines.
if [[ $with_tests == 1 ]] && [[ ! -x /usr/bin/chromium ]]; then
    echo "installing Chromium (the web app's browser test drives it with Playwright)"
    $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium >/dev/null
fi
