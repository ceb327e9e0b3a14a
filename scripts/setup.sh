#!/usr/bin/env bash
# Set up captioner in ./.venv: Python packages (and, with --test, what the test suite needs:
# pytest, playwright, Java for METEOR / the PTB tokenizer, Chromium for the web app's browser
# test, and the Tux Paint stamps for the real-objects scenes). Safe to run again.
#   --dev   only the Python packages, with the fast test tier's (pytest ...): no Java, Chromium or stamps.
#   --cpu   torch's CPU-only build from its CPU wheel index (about 2 GB in all instead of 6.6 GB;
#           needs https://download.pytorch.org/whl/cpu to be reachable). Set TORCH_INDEX to use another index.
# Each step prints a line with the time so far; pip's own lines show what it fetches.
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
with_dev=0
cpu=0
for arg in "$@"; do
    case "$arg" in
        --test) with_tests=1 ;;
        --dev) with_dev=1 ;;
        --cpu) cpu=1 ;;
        *) echo "setup.sh: unknown option $arg (use --test, --dev, --cpu)" >&2; exit 2 ;;
    esac
done

started=$SECONDS
steps=3
[[ $with_tests == 1 ]] && steps=6
step=0
say() {
    step=$((step + 1))
    printf '[%d/%d, %dm%02ds] %s\n' "$step" "$steps" $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60)) "$1"
}
# pip's progress, one short line per package, instead of -q's silence.
pip_progress() { grep --line-buffered -E '^(Collecting|Downloading|Installing|Successfully|ERROR)' | sed -u 's/^/    /' || true; }

if [[ $cpu == 1 ]]; then
    echo "captioner set-up: about 3-5 minutes and about 2 GB in .venv (torch's CPU-only build), more with --test."
else
    echo "captioner set-up: about 4-6 minutes on a fresh machine and 6.6 GB in .venv, 4.1 GB of it torch's CUDA"
    echo "libraries (nvidia-*, triton). No GPU? bash scripts/setup.sh --cpu installs torch's CPU-only build (about 2 GB)."
fi

# Room on the disk first: pip otherwise stops half-way with "[Errno 28] No space left on device"
# (a CI run did, 54 s in). Only a new .venv needs it; an existing one is updated in place.
if [[ ! -x .venv/bin/python ]]; then
    if [[ $cpu == 1 ]]; then need_mb=3000; else need_mb=7500; fi  # the venv (2 / 6.6 GB) and the tests' files
    free_mb=$(df -Pm . | awk 'NR == 2 {print $4}')
    if [[ -n "$free_mb" && "$free_mb" -lt "$need_mb" ]]; then
        echo "setup.sh: not enough disk space in $(pwd): ${free_mb} MB free, about ${need_mb} MB needed for .venv" >&2
        echo "(and the test files). Free some space and run it again; --cpu needs about 3000 MB." >&2
        exit 1
    fi
fi

python=${PYTHON:-python3}
say "virtual environment .venv"
if [[ ! -x .venv/bin/python ]]; then
    "$python" -m venv .venv
fi
pip="./.venv/bin/python -m pip"
if [[ $cpu == 1 ]]; then
    torch_pins=$(grep -E '^(torch|torchvision)==' requirements.txt)
    say "torch, CPU-only build ($(echo $torch_pins))"
    $pip install --progress-bar off --index-url "${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}" $torch_pins 2>&1 | pip_progress
else
    say "torch and the other Python packages (the largest download: torch's CUDA build, about 4 GB)"
fi
[[ $cpu == 1 ]] && say "the other Python packages"
if [[ $with_tests == 1 || $with_dev == 1 ]]; then
    $pip install --progress-bar off -r requirements-test.txt 2>&1 | pip_progress
else
    $pip install --progress-bar off -r requirements.txt 2>&1 | pip_progress
fi
# Editable, in compat mode: the checkout's folder goes on sys.path, so a script beside a clone folder
# named "captioner" still imports the package (with setuptools' default finder hook that folder,
# having no __init__.py, shadowed it: "cannot import name 'Captioner'").
[[ $cpu == 0 ]] && say "captioner itself (editable)"
$pip install -q --no-deps --no-build-isolation -e . --config-settings editable_mode=compat

if [[ $(id -u) == 0 ]]; then sudo=""; else sudo="sudo"; fi
if [[ $with_tests == 1 ]]; then
    say "Java (METEOR and the coco-caption tokenizer need it)"
    if ! command -v java >/dev/null 2>&1; then
        $sudo apt-get update -qq && $sudo apt-get install -y -qq default-jre-headless >/dev/null
    fi
    # The Tux Paint stamps (Debian packages): the tests generate scenes of real objects from them.
    say "Tux Paint stamps into .cache/tuxpaint (169 MB)"
    bash scripts/fetch_tuxpaint.sh .cache/tuxpaint
    # Debian's Chromium: Playwright's own browser download does not work on the project's machines.
    say "Chromium (the web app's browser test drives it with Playwright)"
    if [[ ! -x /usr/bin/chromium ]]; then
        $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium >/dev/null
    fi
fi
printf 'done in %dm%02ds: start the app with .venv/bin/streamlit run app/streamlit_app.py\n' $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60))
