"""Command line: `captioner <command>`. Thin: every command calls library functions.

Each command has an `_add_<command>(subparsers)` function that declares its arguments and sets
`func`, the function that runs it; `build_parser` lists them.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
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


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _add_model_args(p) -> None:
    p.add_argument("--model", metavar="DIR", help="a saved model directory (default: the shipped default model)")
    p.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: the GPU of this process if there is one, else cpu)")
    p.add_argument("--beam-size", type=_positive, default=3, help="beams per image; 1 is greedy decoding (default: %(default)s)")
    p.add_argument("--max-len", type=_positive, help="most words per caption (default: the model's limit)")


def _add_style_args(p, title: str) -> None:
    from captioner.heatmaps import HeatmapStyle

    default = HeatmapStyle()
    g = p.add_argument_group(title)
    # SUPPRESS: only the options given reach HeatmapStyle, whose defaults are the one source.
    g.add_argument("--colormap", default=argparse.SUPPRESS, help=f"a matplotlib colormap name (default: {default.colormap})")
    g.add_argument("--opacity", type=float, default=argparse.SUPPRESS, help=f"weight of the heatmap colour, 0..1 (default: {default.opacity})")
    g.add_argument(
        "--smooth", choices=("nearest", "bilinear", "bicubic"), default=argparse.SUPPRESS,
        help=f"how the attention grid is upsampled to the image: nearest shows the cells (default: {default.smooth})",
    )
    g.add_argument("--sigma", type=float, default=argparse.SUPPRESS, help=f"extra gaussian blur, in grid cells (default: {default.sigma})")
    g.add_argument("--panel-size", type=int, default=argparse.SUPPRESS, help=f"side of each panel in pixels (default: {default.panel_size})")


def _style(args):
    from captioner.heatmaps import HeatmapStyle

    names = [f.name for f in dataclasses.fields(HeatmapStyle)]
    return HeatmapStyle(**{name: getattr(args, name) for name in names if hasattr(args, name)})


def _prepare(args, shard):
    """The model and heatmap style the arguments ask for; raises ValueError (CheckpointError, a bad style)."""
    from captioner.pipeline import Captioner

    style = _style(args)  # checked before the model loads: a typo should not cost a model load
    return Captioner.from_pretrained(args.model, device=args.device or shard.default_device()), style


def _add_caption(sub) -> None:
    p = sub.add_parser(
        "caption",
        help="caption many images into a JSONL or CSV file",
        description=(
            "Caption images into one record per image: "
            '{"path": ..., "caption": ..., "score": ..., "error": null}. An unreadable image gets '
            '"caption": null and the reason in "error", and the run goes on. Exit status: 0 all '
            "captioned, 1 some failed, 2 usage error or no model. Under torchrun (python -m "
            "torch.distributed.run --nproc_per_node N -m captioner caption ...) each process takes "
            "every Nth image and the output is merged in input order."
        ),
    )
    p.add_argument(
        "inputs", nargs="*", metavar="INPUT",
        help="an image file, a folder (searched recursively for image files) or a glob pattern (quote it: 'photos/**/*.jpg')",
    )
    p.add_argument(
        "--list", action="append", default=[], metavar="FILE",
        help="a text file with one image path a line (relative to the current folder; blank lines and # comments skipped); may be repeated",
    )
    p.add_argument("--out", required=True, help="the output file: CSV if it ends in .csv, JSON lines otherwise")
    _add_model_args(p)
    p.add_argument("--batch-size", type=_positive, default=32, help="images captioned together (default: %(default)s)")
    p.add_argument("--n-best", type=_positive, default=1, help="also record the N best captions as alternatives (N <= --beam-size)")
    p.add_argument("--peaks", action="store_true", help="also record, per word, the grid cell (row, col) of its attention peak and its weight")
    p.add_argument(
        "--workers", type=_positive, default=min(8, os.cpu_count() or 1),
        help="threads reading images (and drawing heatmaps) beside the model (default: %(default)s)",
    )
    p.add_argument("--heatmaps", metavar="DIR", help="also write each image's heatmaps here, named after its path (as captioner inspect)")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue the output: skip images it holds, redo a half-written last line")
    again.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    _add_style_args(p, "heatmap style (with --heatmaps)")
    p.set_defaults(func=_run_caption)


def _run_caption(args) -> int:
    from pathlib import Path

    from captioner.batch import CaptionOptions, Shard, check_output, discover_inputs, run_batch

    if args.n_best > args.beam_size:
        return _usage_error("caption", f"--n-best {args.n_best} is more than --beam-size {args.beam_size}")
    shard = Shard.from_env()
    try:
        items = discover_inputs(args.inputs, args.list)
        check_output(args.out, args.resume, args.overwrite)
        captioner, style = _prepare(args, shard)
    except ValueError as exc:  # BatchError, CheckpointError (NoDefaultModelError), a bad style
        return _usage_error("caption", exc)
    options = CaptionOptions(
        beam_size=args.beam_size, max_len=args.max_len, n_best=args.n_best, batch_size=args.batch_size,
        peaks=args.peaks, heatmaps=Path(args.heatmaps) if args.heatmaps else None, style=style, workers=args.workers,
    )
    summary = run_batch(
        captioner, items, args.out, options, resume=args.resume, overwrite=args.overwrite, shard=shard, progress=args.progress
    )
    if shard.rank != 0:
        # Only rank 0 reports: torchrun stops every process as soon as one exits non-zero, which
        # would kill rank 0 while it merges the parts.
        return 0
    print(f"{summary} -> {args.out}")
    return summary.exit_status


def _add_inspect(sub) -> None:
    p = sub.add_parser(
        "inspect",
        help="caption images and write their per-word attention heatmaps",
        description=(
            "For each image write <name>_grid.png (the image with its caption, then one panel per word "
            "labelled with the word and its gate beta), <name>.gif (one frame per word), "
            "<name>_attention.npy and <name>.json (the raw maps, the caption and its score)."
        ),
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files, folders or glob patterns")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the heatmap files")
    _add_model_args(p)
    _add_style_args(p, "heatmap style")
    p.set_defaults(func=_run_inspect)


def _run_inspect(args) -> int:
    from pathlib import Path

    from captioner.batch import CaptionOptions, Shard, caption_items, discover_inputs

    try:
        items = discover_inputs(args.images)
        captioner, style = _prepare(args, Shard())
    except ValueError as exc:
        return _usage_error("inspect", exc)
    options = CaptionOptions(beam_size=args.beam_size, max_len=args.max_len, heatmaps=Path(args.out), style=style)
    failed = 0
    for record in caption_items(captioner, items, options):
        if record["error"] is None:
            print(f"{record['path']}: {record['caption']} (score {record['score']:.3f})")
        else:
            failed += 1
            print(f"{record['path']}: failed: {record['error']}", file=sys.stderr)
    print(f"heatmaps of {len(items) - failed} images in {args.out}" + (f"; {failed} failed" if failed else ""))
    return 1 if failed else 0


def _usage_error(command: str, message) -> int:
    print(f"captioner {command}: error: {message}", file=sys.stderr)
    return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="captioner", description="Image captioning with visual attention (Show, Attend and Tell).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_synth, _add_demo, _add_caption, _add_inspect):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
