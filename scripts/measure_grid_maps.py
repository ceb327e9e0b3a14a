"""What CaptionResult.grid_attention costs: the grid self-attention maps of one image against
captioning it (beam 3, maps included), on a random model of the shipped shapes model's sizes with
4 heads of grid self-attention. Best of 7 runs each, 2 torch threads.

    python scripts/measure_grid_maps.py
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch
from PIL import Image

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
    torch.set_num_threads(2)
    torch.manual_seed(0)
    config = dataclasses.replace(ModelConfig.load(SHAPES / "config.json"), grid_self_attention_heads=4)
    captioner = Captioner.from_config(config, Vocabulary.load(SHAPES / "vocab.json"))
    image = Image.open(ROOT / "data" / "samples" / "scene-1.png").convert("RGB")
    captioner.caption([image], beam_size=3)  # warm up
    features = captioner.encode([image])
    with torch.inference_mode():
        maps = best_seconds(lambda: captioner.model.decoder.grid_attention_maps(features))
    whole = best_seconds(lambda: captioner.caption([image], beam_size=3))
    print(f"grid maps {maps * 1000:.1f} ms; whole caption (beam 3, maps included) {whole * 1000:.1f} ms; maps {maps / whole:.1%} of it")


if __name__ == "__main__":
    main()
