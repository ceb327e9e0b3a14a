"""Command line: `captioner <command>`. Thin: every command calls library functions.

Each command has an `_add_<command>(subparsers)` function that declares its arguments and sets
`func`, the function that runs it; `build_parser` lists them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
import traceback
from pathlib import Path


def _add_synth(sub) -> None:
    p = sub.add_parser(
        "synth",
        help="generate grounded synthetic scenes (images + captions + boxes)",
        description="Draw scenes of 1-4 coloured shapes on varied backgrounds, with captions and each object's box, "
        "into a Karpathy-style split file (train, val, test and a compositional split of colour-shape pairs never "
        "seen in training) that train and evaluate read.",
    )
    _add_scene_args(p, "dataset_synth.json", n_train=8000, n_val=1000)
    p.add_argument("--n-comp", type=int, default=1000, help="compositional split: held-out colour-shape pairs")
    p.add_argument("--image-size", type=int, default=224, help="side of the square images in pixels (default: %(default)s)")
    p.set_defaults(func=_run_synth)


def _add_scene_args(p, json_name: str, n_train: int, n_val: int) -> None:
    """What both scene generators take: where to write, how many scenes of each split, seed, workers."""
    p.add_argument("--out", required=True, help=f"output folder (images/ and {json_name})")
    p.add_argument("--n-train", type=int, default=n_train, help="training scenes (default: %(default)s)")
    p.add_argument("--n-val", type=int, default=n_val, help="validation scenes (default: %(default)s)")
    p.add_argument("--n-test", type=int, default=1000, help="test scenes (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="the same seed draws the same scenes (default: %(default)s)")
    p.add_argument(
        "--workers",
        type=_positive,
        default=os.cpu_count() or 1,
        help="processes drawing scenes (default: one per CPU core); the output does not depend on it",
    )


def _run_synth(args) -> int:
    from captioner.data.synth import generate_dataset

    path = generate_dataset(
        args.out,
        n_train=args.n_train,
        n_val=args.n_val,
        n_test=args.n_test,
        n_comp=args.n_comp,
        seed=args.seed,
        image_size=args.image_size,
        progress=True,
        workers=args.workers,
    )
    print(f"wrote {path}")
    return 0


def _add_objects(sub) -> None:
    p = sub.add_parser(
        "objects",
        help="generate grounded scenes of real photographed objects (Tux Paint stamps on photos)",
        description="Paste photographed objects (Tux Paint stamps) on background photographs, with captions and each "
        "object's box and mask, into a Karpathy-style split file: the data the shipped objects model was trained on.",
    )
    p.add_argument(
        "--tuxpaint",
        required=True,
        help="folder where the Debian packages tuxpaint-stamps-default and tuxpaint-data are unpacked "
        "(bash scripts/fetch_tuxpaint.sh DIR does it)",
    )
    p.add_argument("--table", metavar="CSV", help="stamps table (default: the project's reviewed data/objects/stamps.csv)")
    _add_scene_args(p, "dataset_objects.json", n_train=10000, n_val=500)
    p.add_argument("--n-heldout", type=int, default=1000, help="scenes with object pairs/backgrounds never together in training")
    p.set_defaults(func=_run_objects)


def _run_objects(args) -> int:
    from captioner.data.objects import ObjectsDataError, generate_dataset

    try:
        path = generate_dataset(
            args.out,
            args.tuxpaint,
            args.table,
            n_train=args.n_train,
            n_val=args.n_val,
            n_test=args.n_test,
            n_heldout=args.n_heldout,
            seed=args.seed,
            progress=True,
            workers=args.workers,
        )
    except ObjectsDataError as exc:
        return _usage_error("objects", exc)
    print(f"wrote {path}")
    return 0


def _add_demo(sub) -> None:
    from captioner.demo import DEMO_EPOCHS, DEMO_SCENES, EXPECTED

    p = sub.add_parser(
        "demo",
        help=f"train a small model on generated scenes ({EXPECTED.split(',')[0]}), then caption held-out scenes with heatmaps",
        description=f"Generate scenes of coloured shapes, train a small soft-attention model on them and caption held-out "
        f"scenes, writing their heatmaps: {EXPECTED}. Each epoch prints one line (loss, validation scores, how much of "
        f"each object word's attention falls in its object's box); every figure is in <out>/run/metrics.jsonl.",
    )
    p.add_argument("--out", default="runs/demo", help="folder for the data, the model and the heatmaps (default: %(default)s)")
    p.add_argument(
        "--n-train", type=int, default=DEMO_SCENES, help="training scenes; the time grows with scenes x epochs (default: %(default)s)"
    )
    p.add_argument("--epochs", type=int, default=DEMO_EPOCHS, help="passes over the training scenes (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="the same seed gives the same scenes and model (default: %(default)s)")
    p.set_defaults(func=_run_demo)


def _run_demo(args) -> int:
    from captioner.demo import run_demo

    run_demo(args.out, n_train=args.n_train, epochs=args.epochs, seed=args.seed)
    return 0


def _add_train(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model (soft or hard attention) on a caption data set",
        description="Train on a Karpathy split file (COCO/Flickr/synth), a COCO captions JSON or a caption folder. "
        "Settings come from --config (JSON with 'model' and 'train' sections), then --set overrides, then the flags below.",
    )
    p.add_argument("--data", help="data set: dataset_*.json, COCO captions JSON, or a folder with captions.jsonl/csv")
    p.add_argument("--image-root", help="folder the data set's image paths are relative to (default: beside the file)")
    p.add_argument("--out", help="run folder (checkpoints, metrics.jsonl, best/ and final/ models)")
    p.add_argument("--config", help="JSON configuration file")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a setting, e.g. --set model.hidden_dim=512 --set train.lr=1e-3 (repeatable)",
    )
    p.add_argument("--epochs", type=int, help="passes over the training data (train.epochs)")
    p.add_argument("--batch-size", type=int, help="captions per training step (train.batch_size)")
    p.add_argument("--lr", type=float, help="learning rate (train.lr)")
    p.add_argument("--attention", help="score function: additive, dot, scaled_dot, general, cosine, location")
    p.add_argument("--hard", action="store_true", help="stochastic hard attention instead of soft")
    p.add_argument("--encoder", help="efficientnet_lite0 (default), resnet18/50/101 or timm:<name>")
    p.add_argument("--encoder-weights", help="local weights file for --encoder (no downloads happen)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.add_argument("--seed", type=int, help="random seed: the same seed and data give the same model (train.seed)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint")
    p.set_defaults(func=_run_train)


def _run_train(args) -> int:
    from captioner.training.config import load_configs
    from captioner.training.run import run_training

    overrides = list(args.overrides)
    flags = {
        "train.data": args.data,
        "train.image_root": args.image_root,
        "train.out": args.out,
        "train.epochs": args.epochs,
        "train.batch_size": args.batch_size,
        "train.lr": args.lr,
        "train.device": args.device,
        "train.seed": args.seed,
        "model.attention": args.attention,
        "model.encoder": args.encoder,
        "model.encoder_weights": args.encoder_weights,
        "model.hard_attention": True if args.hard else None,
    }
    overrides += [f"{k}={json.dumps(v)}" for k, v in flags.items() if v is not None]
    try:
        model_config, train_config = load_configs(args.config, overrides)
    except (ValueError, TypeError, OSError) as exc:
        print(f"captioner train: {exc}", file=sys.stderr)
        return 2
    if not args.resume and not train_config.data:
        print("captioner train: --data is required (or train.data in --config)", file=sys.stderr)
        return 2
    from captioner import CheckpointError, NonFiniteLossError
    from captioner.training.config import TrainingSettingError

    try:
        run = run_training(model_config, train_config, resume=args.resume)
    except NonFiniteLossError as exc:
        print(f"captioner train: error: {exc}", file=sys.stderr)
        return 1
    # nothing to resume, a damaged run, a run already there, a setting the run cannot honour
    except (CheckpointError, FileNotFoundError, FileExistsError, TrainingSettingError) as exc:
        return _usage_error("train", exc)
    print(f"run folder: {run} (best model: {run / 'best'})")
    return 0


def _add_lab(sub) -> None:
    from captioner.lab import VARIANT_NAMES

    p = sub.add_parser(
        "lab",
        help="train every attention variant on the same shapes scenes and budget; one table and one figure",
        description="The attention lab (docs/attention-lab.md): each variant (score functions, soft/hard, global/local, "
        "sentinel, self-attention, SCST, supervised attention) trained as `captioner train` trains, with the same seed, "
        "scenes and epochs, then measured on the same test scenes into OUT/lab.md, lab.json and lab.png.",
    )
    p.add_argument("--data", required=True, help="generated shapes scenes: the dataset_synth.json `captioner synth` writes")
    p.add_argument("--out", required=True, help="folder for the table, figure, runs and feature cache")
    p.add_argument("--variants", help=f"comma-separated rows (default: all): {', '.join(VARIANT_NAMES)}")
    p.add_argument("--budget", default="1000x2", help="SCENESxEPOCHS: training scenes and epochs of every row (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="the seed of every row (default: %(default)s)")
    p.add_argument("--val-scenes", type=int, default=100, help="validation scenes, picking each row's best epoch (default: %(default)s)")
    p.add_argument("--test-scenes", type=int, default=200, help="test scenes the table is measured on (default: %(default)s)")
    p.add_argument("--config", default=None, help="JSON file as train takes (default: the shapes model's settings)")
    p.add_argument("--warm-start", help="start every row from this model's decoder (e.g. shapes) and fine-tune, instead of from scratch")
    p.add_argument("--retrain", action="store_true", help="train rows OUT/lab.json already holds at this budget again (default: keep them)")
    p.set_defaults(func=_run_lab)


def _run_lab(args) -> int:
    from captioner.lab import LabBudget, parse_budget, run_lab, select_variants

    try:
        scenes, epochs = parse_budget(args.budget)
        budget = LabBudget(scenes=scenes, epochs=epochs, seed=args.seed, val_scenes=args.val_scenes, test_scenes=args.test_scenes)
        variants = select_variants([v.strip() for v in args.variants.split(",") if v.strip()] if args.variants else None)
        report = run_lab(
            args.data, args.out, variants, budget, config_file=args.config, warm_start_from=args.warm_start, retrain=args.retrain
        )
    except ValueError as exc:
        return _usage_error("lab", exc)
    print(
        f"lab: {len(report['rows'])} rows in {report['seconds']:.0f} s; table {Path(args.out) / 'lab.md'}, figure {Path(args.out) / 'lab.png'}"
    )
    return 0


def _add_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="caption a data set split and score it (coco-caption metrics, attention correctness)",
        description="Caption one split of a data set and score the captions: BLEU-1..4, METEOR, ROUGE-L and CIDEr-D, and on "
        "grounded data (generated scenes) how often objects are named and how much attention falls in their boxes. "
        "With --photos, whether each photo's caption names its main object. Writes a JSON report.",
    )
    p.add_argument("--model", required=True, help="saved model directory")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="data set (as for train)")
    source.add_argument(
        "--photos", help="a photo set folder (photos.csv + images, e.g. data/photos): does each caption name the photo's main object?"
    )
    p.add_argument("--image-root", help="folder the data set's image paths are relative to (default: beside the file)")
    p.add_argument("--split", default="test", help="which split to score (test, val, comp, ...)")
    _add_decoder_words_arg(p)
    _add_decoding_args(p)
    p.add_argument("--batch-size", type=int, default=32, help="images captioned together (default: %(default)s)")
    p.add_argument("--no-meteor", action="store_true", help="skip METEOR (it needs Java and is the slowest)")
    p.add_argument("--limit", type=int, help="score only the first N images of the split")
    p.add_argument("--out", help="report JSON path (default: <model>/eval-<split>-beam<k>.json)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    _add_int8_arg(p)
    p.set_defaults(func=_run_evaluate)


def _run_evaluate(args) -> int:
    from captioner import Captioner
    from captioner.data.datasets import load_dataset
    from captioner.evaluation.evaluate import evaluate, write_report
    from captioner.evaluation.photos import photo_report, read_photo_set
    from captioner.evaluation.report import photos_table

    try:  # every input is checked before the model is loaded
        options = _decoding(args)
        photos = read_photo_set(args.photos) if args.photos else None
    except (OSError, ValueError) as exc:
        return _usage_error("evaluate", exc)
    if photos is None:
        records = [r for r in load_dataset(args.data, args.image_root) if r.split == args.split][: args.limit]
        if not records:
            print(f"captioner evaluate: no images in split {args.split!r} of {args.data}", file=sys.stderr)
            return 2
    name = "photos" if photos is not None else args.split
    out = Path(args.out or Path(args.model) / f"eval-{name}-beam{options.beam_size}.json")
    _check_writable(out)  # before the work, not after it
    captioner = Captioner.from_pretrained(
        args.model, device=args.device, int8=args.int8, onnx=args.onnx, naming=not args.decoder_words, detector=not args.no_detector
    )
    if photos is not None:
        report = photo_report(captioner, photos, options)
        report.update(model=str(args.model), photo_set=str(args.photos))
        summary = photos_table(report)
    else:
        report = evaluate(
            captioner,
            records,
            options,
            meteor=not args.no_meteor,
            batch_size=args.batch_size,
            progress=True,
            results_file=out.with_name(out.stem + "-coco-results.json"),
        )
        report.update(model=str(args.model), data=str(args.data), split=args.split)
        summary = json.dumps({k: report[k] for k in ("metrics", "grounding") if k in report}, indent=2)
    write_report(report, out)
    print(summary)
    print(f"report: {out}")
    return 0


def _add_export(sub) -> None:
    p = sub.add_parser(
        "export",
        help="publish a trained model directory (half precision when captions stay the same)",
        description="Copy a trained model directory into a publishable one. Weights are stored in float16 (half the "
        "size) only if the captions of the --check-data images stay the same; the report lists what was checked.",
    )
    p.add_argument("--model", required=True, help="trained model directory, e.g. runs/x/best")
    p.add_argument("--out", required=True, help="target model directory")
    p.add_argument("--check-data", help="data set whose --check-split images must keep their captions in half precision")
    p.add_argument("--check-split", default="test", help="split of --check-data to check (default: %(default)s)")
    p.add_argument("--check-limit", type=int, default=200, help="most images checked (default: %(default)s)")
    p.add_argument("--full-precision", action="store_true", help="always store float32 weights")
    p.add_argument(
        "--allow-changed",
        type=int,
        default=0,
        metavar="N",
        help="store float16 even if up to N check captions change (they are listed in the report)",
    )
    p.set_defaults(func=_run_export)


def _run_export(args) -> int:
    from captioner.publish import export_model

    _check_writable(Path(args.out))
    images = []
    if args.check_data:
        from captioner.data.datasets import load_dataset

        images = [r.image_path for r in load_dataset(args.check_data) if r.split == args.check_split][: args.check_limit]
    report = export_model(args.model, args.out, check_images=images, half=not args.full_precision, allowed_changes=args.allow_changed)
    print(json.dumps(report, indent=2))
    return 0


def _check_writable(path: Path) -> None:
    """Raise OSError (exit status 2) unless a file or folder can be made at `path`."""
    import errno

    folder = path.parent
    while not folder.exists() and folder != folder.parent:  # the folders that would be made: nothing made yet
        folder = folder.parent
    if not folder.is_dir():
        raise OSError(errno.ENOTDIR, f"cannot write there: {folder} is not a folder", str(path))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OSError(errno.EACCES, f"cannot write in {folder}", str(path))


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _add_model_args(p) -> None:
    p.add_argument(
        "--model", metavar="DIR", help="a saved model directory, or a shipped model by name: objects, shapes, hard (default: objects)"
    )
    p.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: the GPU of this process if there is one, else cpu)")
    _add_int8_arg(p)
    _add_decoder_words_arg(p)
    _add_decoding_args(p)


def _add_decoder_words_arg(p) -> None:
    p.add_argument(
        "--decoder-words",
        action="store_true",
        help="the decoder's own words only: do not name objects from where the model looked (ImageNet "
        "classifier, people detector), which the objects model does by default",
    )
    p.add_argument(
        "--no-detector",
        action="store_true",
        help="name objects without the people detector: no people, counts or confirmations by detection, "
        "but about 1.1x the time of the decoder's words instead of 2-4x on a CPU (for large batches)",
    )


def _add_int8_arg(p) -> None:
    p.add_argument(
        "--int8",
        action="store_true",
        help="CPU only: decode with int8 projections, faster (above all one image at a time); a few captions can differ",
    )
    p.add_argument(
        "--onnx",
        action="store_true",
        help="CPU only: run the encoder and the decoding step on ONNX Runtime, faster; the same captions "
        "(with --int8: the step's products in int8, the fastest one image at a time)",
    )


def _add_decoding_args(p) -> None:
    from captioner import HARD_CONTEXTS, DecodingOptions

    default = DecodingOptions()
    g = p.add_argument_group("decoding")
    # default None: only the options given reach DecodingOptions, whose defaults are the one source.
    g.add_argument("--beam-size", type=_positive, help=f"beams per image; 1 is greedy decoding (default: {default.beam_size})")
    g.add_argument("--max-len", type=_positive, help="most words per caption (default: the model's limit)")
    g.add_argument(
        "--n-best", type=_positive, help=f"also give the N best captions as alternatives, N <= --beam-size (default: {default.n_best})"
    )
    g.add_argument(
        "--length-penalty",
        type=float,
        help=f"scores are sum log p / length**P; 0 favours short captions (default: {default.length_penalty})",
    )
    g.add_argument("--block-repeats", action="store_true", default=None, help="never emit the same word twice in a row")
    g.add_argument("--block-trigrams", action="store_true", default=None, help="never repeat a trigram within a caption")
    g.add_argument(
        "--hard-context",
        choices=HARD_CONTEXTS,
        help=f"hard-attention models: each word reads the most likely location (argmax) or the expected "
        f"context over all locations (default: {default.hard_context})",
    )


def _decoding(args):
    """The DecodingOptions the arguments ask for; raises ValueError (e.g. --n-best above --beam-size)."""
    from captioner import decoding_options

    names = ("beam_size", "max_len", "n_best", "length_penalty", "block_repeats", "block_trigrams", "hard_context")
    return decoding_options(**{name: getattr(args, name) for name in names})


def _add_style_args(p, title: str) -> None:
    from captioner.viz.render import HeatmapStyle

    default = HeatmapStyle()
    g = p.add_argument_group(title)
    # SUPPRESS: only the options given reach HeatmapStyle, whose defaults are the one source.
    g.add_argument("--colormap", default=argparse.SUPPRESS, help=f"a matplotlib colormap name (default: {default.colormap})")
    g.add_argument(
        "--opacity", type=float, default=argparse.SUPPRESS, help=f"weight of the heatmap colour, 0..1 (default: {default.opacity})"
    )
    g.add_argument(
        "--no-fade",
        dest="fade",
        action="store_false",
        default=argparse.SUPPRESS,
        help="colour the whole image at --opacity (no attention in the colormap's coldest colour); by "
        "default low attention fades to the image, which keeps its own colours",
    )
    g.add_argument(
        "--smooth",
        choices=("nearest", "bilinear", "bicubic"),
        default=argparse.SUPPRESS,
        help=f"how the attention grid is upsampled to the image: nearest shows the cells (default: {default.smooth})",
    )
    g.add_argument("--sigma", type=float, default=argparse.SUPPRESS, help=f"extra gaussian blur, in grid cells (default: {default.sigma})")
    g.add_argument(
        "--panel-size", type=int, default=argparse.SUPPRESS, help=f"side of each panel in pixels (default: {default.panel_size})"
    )


def _style(args):
    from captioner.viz.render import HeatmapStyle

    names = [f.name for f in dataclasses.fields(HeatmapStyle)]
    return HeatmapStyle(**{name: getattr(args, name) for name in names if hasattr(args, name)})


def _prepare(args, shard):
    """The model and heatmap style the arguments ask for; raises ValueError (CheckpointError, a bad style)."""
    from captioner import Captioner

    style = _style(args)  # checked before the model loads: a typo should not cost a model load
    cpu_only = args.int8 or args.onnx
    return Captioner.from_pretrained(
        args.model,
        device=args.device or ("cpu" if cpu_only else shard.default_device()),
        int8=args.int8,
        onnx=args.onnx,
        naming=not args.decoder_words,
        detector=not args.no_detector,
    ), style


def _add_caption(sub) -> None:
    p = sub.add_parser(
        "caption",
        help="caption many images into a JSONL or CSV file",
        description=(
            "Caption images into one record per image: "
            '{"path": ..., "caption": ..., "score": ..., "error": null}. An unreadable image gets '
            '"caption": null and the reason in "error", and the run goes on. Exit status: 0 all '
            "captioned, 1 some failed, 2 usage or input error (or no model), 3 internal error. Under torchrun (python -m "
            "torch.distributed.run --nproc_per_node N -m captioner caption ...) each process takes "
            "every Nth image and the output is merged in input order."
        ),
    )
    p.add_argument(
        "inputs",
        nargs="*",
        metavar="INPUT",
        help="an image file, a folder (searched recursively for image files) or a glob pattern (quote it: 'photos/**/*.jpg')",
    )
    p.add_argument(
        "--list",
        action="append",
        default=[],
        metavar="FILE",
        help="a text file with one image path a line (relative to the current folder; blank lines and # comments skipped); may be repeated",
    )
    p.add_argument("--out", required=True, help="the output file: CSV if it ends in .csv, JSON lines otherwise")
    _add_model_args(p)
    p.add_argument("--batch-size", type=_positive, default=32, help="images captioned together (default: %(default)s)")
    p.add_argument(
        "--peaks", action="store_true", help="also record, per word, the grid cell (row, col) of its attention peak and its weight"
    )
    p.add_argument(
        "--workers",
        type=_positive,
        default=min(8, os.cpu_count() or 1),
        help="threads reading images (and drawing heatmaps) beside the model (default: %(default)s)",
    )
    p.add_argument("--heatmaps", metavar="DIR", help="also write each image's heatmaps here, named after its path (as captioner inspect)")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue the output: skip images it holds, redo a half-written last line")
    again.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument(
        "--retry-failed",
        action="store_true",
        help="with --resume (implied): caption again the images the output records as failed (a disk "
        "that filled is freed, a missing file arrived); their new records replace the old",
    )
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    _add_style_args(p, "heatmap style (with --heatmaps)")
    p.set_defaults(func=_run_caption)


def _run_caption(args) -> int:
    from captioner.batch import BatchError, BatchOptions, check_output, discover_inputs, lab_word_fields, run_batch
    from captioner.distributed import Distributed

    shard = Distributed.from_env()
    try:
        decoding = _decoding(args)
        items = discover_inputs(args.inputs, args.list)
        check_output(args.out, args.resume or args.retry_failed, args.overwrite)
        captioner, style = _prepare(args, shard)
    except ValueError as exc:  # BatchError, CheckpointError (NoDefaultModelError), a bad style
        return _usage_error("caption", exc)
    options = BatchOptions(
        decoding=decoding,
        batch_size=args.batch_size,
        peaks=args.peaks,
        heatmaps=Path(args.heatmaps) if args.heatmaps else None,
        style=style,
        workers=args.workers,
        objects=captioner.namer is not None,
        word_extras=lab_word_fields(captioner),
    )
    try:
        summary = run_batch(
            captioner,
            items,
            args.out,
            options,
            resume=args.resume or args.retry_failed,
            overwrite=args.overwrite,
            shard=shard,
            progress=args.progress,
            retry_failed=args.retry_failed,
        )
    except BatchError as exc:  # a --resume file this run cannot continue, an output another run holds
        return _usage_error("caption", exc)
    if not shard.is_main:
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
            "<name>_attention.npy and <name>.json (the caption's JSON with its attention maps)."
        ),
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files, folders or glob patterns")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the heatmap files")
    _add_model_args(p)
    _add_style_args(p, "heatmap style")
    p.set_defaults(func=_run_inspect)


def _run_inspect(args) -> int:
    from captioner.batch import BatchOptions, caption_items, discover_inputs
    from captioner.distributed import Distributed

    try:
        decoding = _decoding(args)
        items = discover_inputs(args.images)
        captioner, style = _prepare(args, Distributed())
    except ValueError as exc:
        return _usage_error("inspect", exc)
    options = BatchOptions(decoding=decoding, heatmaps=Path(args.out), style=style)
    failed = 0
    for record in caption_items(captioner, items, options):
        if record["error"] is None:
            score = "none" if record["score"] is None else f"{record['score']:.3f}"  # None: not a finite number
            print(f"{terminal_safe(record['path'])}: {record['caption']} (score {score})")
        else:
            failed += 1
            print(f"{terminal_safe(record['path'])}: failed: {terminal_safe(record['error'])}", file=sys.stderr)
    done = len(items) - failed
    print(f"heatmaps of {done} image{'' if done == 1 else 's'} in {args.out}" + (f"; {failed} failed" if failed else ""))
    return 1 if failed else 0


def _usage_error(command: str, message) -> int:
    print(f"captioner {command}: error: {terminal_safe(str(message))}", file=sys.stderr)
    return 2


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """`text` with control characters (ESC and the rest; not tab or newline) shown as \\x.. escapes:
    a file name holding escape sequences must not move the cursor, recolour or retitle the terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="captioner", description="Image captioning with visual attention (Show, Attend and Tell).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_synth, _add_objects, _add_demo, _add_train, _add_lab, _add_evaluate, _add_export, _add_caption, _add_inspect):
        add(sub)
    return parser


# Exit statuses of every command (docs/cli.md lists them).
EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def expected_failure_status(exc: BaseException) -> int | None:
    """The documented exit status of a failure that is not captioner's bug, or None for a bug: bad
    input (a data set, a model, an image, a path that cannot be read or written) is 2, a run that
    failed part-way on the machine's account (a full disk, an I/O error) is 1."""
    import errno

    from captioner import CheckpointError, ImageLoadError
    from captioner.batch import BatchError
    from captioner.data.datasets import DatasetError

    if isinstance(exc, (DatasetError, CheckpointError, ImageLoadError, BatchError)):
        return EXIT_USAGE
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG):
        return EXIT_SOME_FAILED
    if isinstance(exc, OSError) and exc.errno is not None:  # no permission, no such folder, read-only, a file where a folder belongs
        return EXIT_USAGE
    return None


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        # A file name that is not valid UTF-8 (or a terminal that is not UTF-8) must not stop a run
        # that printed it: such characters are shown as \\x.. / \\u.. escapes.
        if callable(getattr(stream, "reconfigure", None)):
            stream.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)  # a usage error exits 2 (argparse)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"captioner {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - expected failures get their status, anything else is a bug
        status = expected_failure_status(exc)
        if status is not None:
            print(f"captioner {args.command}: error: {terminal_safe(str(exc))}", file=sys.stderr)
            return status
        traceback.print_exc()
        print(
            f"captioner {args.command}: internal error ({type(exc).__name__}: {exc}); this is a bug in captioner, "
            f"please report it with the traceback above",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
