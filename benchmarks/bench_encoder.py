"""How to get a 14x14 annotation grid from EfficientNet-Lite0: cost of each option on the CPU.

    python benchmarks/bench_encoder.py [--threads 2] [--batch 32]

Options: stride-16 features at 224 px (14x14x112), stride-16 plus upsampled stride-32 features
at 224 px (14x14x432, the default), stride-32 features at 448 px (14x14x320), and stride-32
at 224 px (7x7x320) for reference.
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.common import best_of, setup_threads
from captioner import ModelConfig
from captioner.model.encoder import build_encoder

OPTIONS = [
    ("stride 16 @224", 224, (3,)),
    ("stride 16 + 32 @224 (default)", 224, (3, 4)),
    ("stride 32 @448", 448, (4,)),
    ("stride 32 @224", 224, (4,)),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    setup_threads(args.threads)
    print(f"{'option':<32} {'grid':>10} {'D':>5} {'ms/img':>8}")
    for label, size, levels in OPTIONS:
        enc = build_encoder(ModelConfig(image_size=size, feature_levels=levels))
        x = torch.randn(args.batch, 3, size, size)

        def run():
            with torch.inference_mode():
                enc(x)

        ms = best_of(run, repeats=3) / args.batch * 1000
        grid = enc.grid_size(size)
        print(f"{label:<32} {f'{grid[0]}x{grid[1]}':>10} {enc.feature_dim:>5} {ms:>8.1f}")


if __name__ == "__main__":
    main()
