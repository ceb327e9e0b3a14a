"""What CaptionResult.grid_attention costs: one run of the grid self-attention layer (what the maps
cost when they were computed again after decoding) against captioning with the maps included
(beam 3), one image and a batch of 8, on a random model of the shipped shapes model's sizes with 4
heads of grid self-attention. Best of 7 runs each. Run it on two versions of captioner to compare
them (PYTHONPATH=/path/to/other/checkout python scripts/measure_grid_maps.py).

    OMP_NUM_THREADS=1 nice python scripts/measure_grid_maps.py [--threads 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch
from PIL import Image

import captioner
from captioner import Captioner, ModelConfig
from captioner.vocab import Vocabulary

ROOT = Path(__file__).resolve().parents[1]
SHAPES = ROOT / "captioner" / "pretrained" / "shapes"


def best_seconds(run, repeats: int = 7) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = dataclasses.replace(ModelConfig.load(SHAPES / "config.json"), grid_self_attention_heads=4)
    model = Captioner.from_config(config, Vocabulary.load(SHAPES / "vocab.json"))
    image = Image.open(ROOT / "data" / "samples" / "scene-1.png").convert("RGB")
    print(f"captioner from {Path(captioner.__file__).parent}, {args.threads} torch thread(s)")
    for count in (1, 8):
        layer, whole = measure(model, [image] * count)
        print(
            f"{count} image(s): one run of the layer {layer * 1000:.1f} ms; whole caption (beam 3, maps included) "
            f"{whole * 1000:.1f} ms, {whole * 1000 / count:.1f} ms an image; the layer {layer / whole:.1%} of it"
        )


def measure(model: Captioner, images: list) -> tuple[float, float]:
    """Seconds for one run of the grid self-attention layer on `images`' annotations, and for captioning them."""
    model.caption(images, beam_size=3)  # warm up
    features = model.encode(images)
    with torch.inference_mode():
        layer = best_seconds(lambda: model.model.decoder.grid_attention_maps(features))
    return layer, best_seconds(lambda: model.caption(images, beam_size=3))


if __name__ == "__main__":
    main()
