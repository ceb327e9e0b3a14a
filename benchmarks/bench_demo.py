"""How long `captioner demo` takes, phase by phase, and what its model learnt.

    python -m benchmarks.bench_demo [--n-train 600] [--epochs 4] [--threads 2] [--out DIR]

Runs the demo as the command does (captioner.demo.run_demo) into a temporary folder (or --out)
and prints the seconds of each phase (generating scenes; caching features and training; captioning
the held-out scenes with heatmaps) and the last epoch's attention figures from the run's
metrics.jsonl, and the CPU seconds it used (on a busy machine the wall time is mostly waiting): the demo promises "about 3 minutes on a 2-core CPU" and attention that
visibly learns, and this is where both are checked. The machine's load goes with the figures.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from benchmarks.common import setup_threads
from captioner.demo import DEMO_EPOCHS, DEMO_SCENES, run_demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=DEMO_SCENES, help="training scenes (default: the demo's, %(default)s)")
    parser.add_argument("--epochs", type=int, default=DEMO_EPOCHS, help="epochs (default: the demo's, %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: %(default)s)")
    parser.add_argument("--out", help="run folder to keep (default: a temporary one)")
    args = parser.parse_args()
    setup_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        timings: dict = {}
        started, cpu_started = time.perf_counter(), time.process_time()
        run_demo(out, n_train=args.n_train, epochs=args.epochs, timings=timings)
        total, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        last = json.loads((out / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    grounding = last.get("val", {}).get("grounding", {})
    print(
        json.dumps(
            {
                "n_train": args.n_train,
                "epochs": args.epochs,
                "seconds": round(total, 1),
                # CPU seconds of all this process's threads: on a busy machine wall time is mostly waiting
                "cpu_seconds": round(cpu, 1),
                "phases_s": {k: round(v, 1) for k, v in timings.items()},
                "last_epoch": {
                    "CIDEr-D": last.get("val", {}).get("CIDEr-D"),
                    "objects_named_rate": grounding.get("objects_named_rate"),
                    "attention": grounding.get("attention"),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
