"""Run the standing benchmarks and keep what each printed, for docs/speed.md.

    python scripts/record_benchmarks.py                  # every benchmark (about 15 minutes on 2 cores)
    python scripts/record_benchmarks.py inference-objects beam-search   # some of them
    python scripts/make_docs.py                          # then write docs/speed.md from the records

Each benchmark runs as its own process, as a user would run it, with OMP_WAIT_POLICY=PASSIVE; its
whole output (which starts with the date, machine, threads and load average) is written to
results/speed/NAME.json with the command and how long it took. docs/src/speed.md places each
record with a `{{bench NAME}}` line, so the page shows what the benchmark printed, never a figure
copied by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BENCHMARKS = {
    "inference-objects": "python -m benchmarks.bench_inference --model captioner/pretrained/objects",
    "inference-objects-naming": "python -m benchmarks.bench_inference --model captioner/pretrained/objects --naming",
    "inference-onnx": "python -m benchmarks.bench_inference --model captioner/pretrained/objects --onnx",
    "inference-worst-case": "python -m benchmarks.bench_inference",
    "beam-search": "python -m benchmarks.bench_beam_search",
    "train": "python -m benchmarks.bench_train",
    "train-plain": "python -m benchmarks.bench_train --steps-only --plain",
    "encoder-grids": "python -m benchmarks.bench_encoder",
    "encoder-inference": "python -m benchmarks.bench_encoder --inference",
    "batch": "python -m benchmarks.bench_batch",
}


def record(name: str, out_dir: Path) -> Path:
    command = BENCHMARKS[name]
    argv = [sys.executable, *shlex.split(command)[1:]]
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{command} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    path = out_dir / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"command": command, "seconds": round(seconds, 1), "output": done.stdout.rstrip("\n")}, indent=1) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "speed", help="where the records go")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    for name in args.names or BENCHMARKS:
        print(f"{name}: {BENCHMARKS[name]} ...", flush=True)
        print(f"  wrote {record(name, args.out).relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
