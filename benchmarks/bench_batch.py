"""Throughput of `captioner caption`: images/s on a folder of generated scenes, batched vs one at a time.

    python -m benchmarks.bench_batch [--images 256] [--batch-size 32] [--beam-size 3] [--threads 2]

No trained default model exists yet, so the model is randomly initialised at the default sizes
(ModelConfig(): embedding 256, LSTM 512, attention 256, captions up to 20 words) with a 60-word
vocabulary, saved to a temporary folder and loaded back as the command line would. A random
decoder seldom says <end>, so nearly every caption runs to the length limit: the slow case.

Rows (all over the same files, the same beam):
- caption, batch B: run_batch as `captioner caption DIR --batch-size B` calls it (background reading);
- caption, batch 1: the same with --batch-size 1;
- caption() per image: the plain library loop `cap.caption(path)` one image at a time.
The model is loaded before the clock starts; the first batch of a warm-up run is not timed either.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import setup_threads, synthetic_vocab
from captioner import Captioner, ModelConfig
from captioner.batch import CaptionOptions, discover_inputs, run_batch
from captioner.synth import generate_scene


def make_images(folder: Path, n: int, seed: int = 0) -> None:
    """`n` scenes as JPEG files of mixed sizes, so reading includes a real decode and resize."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        size = (int(rng.integers(240, 480)), int(rng.integers(200, 400)))
        generate_scene(rng, image_size=size).image.save(folder / f"scene_{i:04d}.jpg", quality=90)


def make_model(folder: Path) -> Path:
    torch.manual_seed(0)
    Captioner.from_config(ModelConfig(), synthetic_vocab(60)).save_pretrained(folder)
    return folder


def time_run_batch(captioner, items, out: Path, options: CaptionOptions) -> float:
    run_batch(captioner, items[: options.batch_size], out.with_suffix(".warmup.jsonl"), options, progress=False)
    start = time.perf_counter()
    summary = run_batch(captioner, items, out, options, progress=False)
    seconds = time.perf_counter() - start
    assert summary.captioned == len(items), summary
    return seconds


def time_caption_loop(captioner, items, beam_size: int) -> float:
    captioner.caption([items[0].path], beam_size=beam_size)
    start = time.perf_counter()
    for item in items:
        captioner.caption([item.path], beam_size=beam_size)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--beam-size", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="reading threads (captioner caption --workers)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--threads", type=int, default=2,
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
        rows = []
        for batch_size in (args.batch_size, 1):
            options = CaptionOptions(beam_size=args.beam_size, batch_size=batch_size, workers=args.workers)
            seconds = time_run_batch(captioner, items, tmp / f"batch{batch_size}.jsonl", options)
            rows.append((f"caption, batch {batch_size}", seconds))
        rows.append(("caption() per image", time_caption_loop(captioner, items, args.beam_size)))

    one_at_a_time = rows[1][1]
    print(f"\n{'mode':<22} {'images/s':>9} {'ms/image':>9} {'speed-up':>9}")
    for name, seconds in rows:
        print(f"{name:<22} {len(items) / seconds:9.1f} {1000 * seconds / len(items):9.1f} {one_at_a_time / seconds:8.2f}x")


if __name__ == "__main__":
    main()
