"""Command line: `captioner <command>`. Thin: every command calls library functions.

Each command has an `_add_<command>(subparsers)` function that declares its arguments and sets
`func`, the function that runs it; `build_parser` lists them.
"""

from __future__ import annotations

import argparse
import sys


def _add_synth(sub) -> None:
    p = sub.add_parser("synth", help="generate grounded synthetic scenes (images + captions + boxes)")
    p.add_argument("--out", required=True, help="output folder (images/ and dataset_synth.json)")
    p.add_argument("--n-train", type=int, default=8000)
    p.add_argument("--n-val", type=int, default=1000)
    p.add_argument("--n-test", type=int, default=1000)
    p.add_argument("--n-comp", type=int, default=1000, help="compositional split: held-out colour-shape pairs")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_run_synth)


def _run_synth(args) -> int:
    from captioner.synth import generate_dataset

    path = generate_dataset(
        args.out, n_train=args.n_train, n_val=args.n_val, n_test=args.n_test, n_comp=args.n_comp,
        seed=args.seed, image_size=args.image_size, progress=True,
    )
    print(f"wrote {path}")
    return 0


def _add_demo(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="train a small model on generated scenes (a few minutes on a CPU), then caption held-out scenes with heatmaps",
    )
    p.add_argument("--out", default="runs/demo", help="folder for the data, the model and the heatmaps")
    p.add_argument("--n-train", type=int, default=1500)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_run_demo)


def _run_demo(args) -> int:
    from captioner.demo import run_demo

    run_demo(args.out, n_train=args.n_train, epochs=args.epochs, seed=args.seed)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="captioner", description="Image captioning with visual attention (Show, Attend and Tell).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_synth, _add_demo):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
