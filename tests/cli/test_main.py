"""The command line's parser (captioner/cli/main.py): help and usage errors answer without loading
torch, and every option of every command says what it does."""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from captioner.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ("synth", "objects", "demo", "train", "evaluate", "export", "caption", "inspect")

# Runs `captioner ARGS` in a fresh interpreter, then prints which heavy modules it loaded.
_PROBE = """
import runpy, sys
sys.argv = ["captioner"] + sys.argv[1:]
try:
    runpy.run_module("captioner", run_name="__main__")
except SystemExit as exc:
    status = exc.code
print("STATUS", status, "LOADED", *[m for m in ("torch", "timm", "onnxruntime", "streamlit") if m in sys.modules], file=sys.stderr)
"""


def _probe(*args: str) -> tuple[int, list[str], str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    last = done.stderr.strip().splitlines()[-1].split()
    assert last[0] == "STATUS", done.stderr
    return int(last[1]), last[3:], done.stdout + done.stderr


@pytest.mark.parametrize(
    "args", [("--help",), ("caption", "--help"), ("demo", "--help"), ("caption",), ("inspect", "x.jpg"), ("no-such-command",)]
)
def test_help_and_usage_errors_do_not_import_torch(args):
    status, loaded, output = _probe(*args)
    assert status == (0 if "--help" in args else 2), output
    assert loaded == [], f"captioner {' '.join(args)} loaded {loaded}"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_a_description_and_help_for_every_option(command):
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser = sub.choices[command]
    assert parser.description, f"captioner {command} has no description"
    silent = [a.option_strings[0] or a.dest for a in parser._actions if not isinstance(a, argparse._HelpAction) and not a.help]
    assert not silent, f"captioner {command}: options without help: {silent}"
