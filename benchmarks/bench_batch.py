"""Throughput of `captioner caption`: images/s on a folder of generated scenes, batched vs one at a time.

    python -m benchmarks.bench_batch [--images 256] [--batch-size 32] [--beam-size 3] [--threads 2]

No trained default model exists yet, so the model is randomly initialised at the default sizes
(ModelConfig(): embedding 256, LSTM 512, attention 256, captions up to 20 words) with a 60-word
vocabulary, saved to a temporary folder and loaded back as the command line would. Its <end> is
suppressed, as in bench_inference, so every caption runs the full 20 steps: the slow case.

Rows (all over the same files, the same beam):
- caption, batch B: run_batch as `captioner caption DIR --batch-size B` calls it (background reading);
- caption, batch 1: the same with --batch-size 1;
- caption() per image: the plain library loop `cap.caption(path)` one image at a time.
The model is loaded before the clock starts, and each mode is warmed up first. The modes take
turns on chunks of two batches, in rotating order, so a change in the machine's load does not
favour one of them.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import setup_threads, synthetic_vocab
from captioner import Captioner, ModelConfig
from captioner.batch import BatchOptions, discover_inputs, run_batch
from captioner.data.synth import generate_scene
from captioner.decoding.options import DecodingOptions


def make_images(folder: Path, n: int, seed: int = 0) -> None:
    """`n` scenes as JPEG files of mixed sizes, so reading includes a real decode and resize."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        size = (int(rng.integers(240, 480)), int(rng.integers(200, 400)))
        generate_scene(rng, image_size=size).image.save(folder / f"scene_{i:04d}.jpg", quality=90)


def make_model(folder: Path) -> Path:
    torch.manual_seed(0)
    captioner = Captioner.from_config(ModelConfig(), synthetic_vocab(60))
    with torch.no_grad():
        captioner.model.decoder.out.bias[captioner.vocab.end_id] = -1e4  # no caption ends early
    captioner.save_pretrained(folder)
    return folder


def modes(captioner, out: Path, batch_size: int, beam_size: int, workers: int) -> dict[str, Callable[[list], None]]:
    """Each way of captioning a list of BatchItems, by name."""

    def batched(size: int) -> Callable[[list], None]:
        options = BatchOptions(decoding=DecodingOptions(beam_size=beam_size), batch_size=size, workers=workers)

        def run(items: list) -> None:
            summary = run_batch(captioner, items, out, options, overwrite=True, progress=False)
            assert summary.captioned == len(items), summary

        return run

    def one_by_one(items: list) -> None:
        for item in items:
            captioner.caption([item.path], beam_size=beam_size)

    return {f"caption, batch {batch_size}": batched(batch_size), "caption, batch 1": batched(1), "caption() per image": one_by_one}


def measure(runs: dict[str, Callable[[list], None]], items: list, chunk: int) -> dict[str, float]:
    """Seconds each mode spends on all `items`, taken chunk by chunk with the modes interleaved and
    their order rotated: other work on a shared machine comes and goes, and so hits every mode alike."""
    for run in runs.values():  # warm-up: first calls allocate and pick kernels
        run(items[:2])
    totals = dict.fromkeys(runs, 0.0)
    names = list(runs)
    for k, start in enumerate(range(0, len(items), chunk)):
        part = items[start : start + chunk]
        for name in names[k % len(names) :] + names[: k % len(names)]:
            began = time.perf_counter()
            runs[name](part)
            totals[name] += time.perf_counter() - began
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--beam-size", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="reading threads (captioner caption --workers)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="torch threads (default: %(default)s). On a machine that other work keeps busy, 1 can be "
        "much faster: OpenMP threads wait for each other when one of them is descheduled",
    )
    args = parser.parse_args()
    setup_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "images").mkdir()
        make_images(tmp / "images", args.images)
        captioner = Captioner.from_pretrained(make_model(tmp / "model"), device=args.device)
        items = discover_inputs([str(tmp / "images")])
        config = captioner.config
        print(
            f"{len(items)} images, model {config.encoder} + decoder {config.embed_dim}/{config.hidden_dim}/"
            f"{config.attention_dim}, vocabulary {len(captioner.vocab)}, max_len {config.max_len}, "
            f"beam {args.beam_size}, device {args.device}, torch threads {torch.get_num_threads()}"
        )
        runs = modes(captioner, tmp / "out.jsonl", args.batch_size, args.beam_size, args.workers)
        totals = measure(runs, items, chunk=2 * args.batch_size)

    one_at_a_time = totals["caption, batch 1"]
    print(f"\n{'mode':<22} {'images/s':>9} {'ms/image':>9} {'speed-up':>9}")
    for name, seconds in totals.items():
        print(f"{name:<22} {len(items) / seconds:9.1f} {1000 * seconds / len(items):9.1f} {one_at_a_time / seconds:8.2f}x")


if __name__ == "__main__":
    main()
