"""A training step with each image's captions together: what `start` computes (the grid's
self-attention, the attention keys, h_0 and c_0) once per caption against once per image
(teacher_forcing's image_rows, which `captioner train` passes with its speed-ups on).

    python -m benchmarks.bench_image_rows [--threads 1] [--batch 64] [--captions-per-image 5] [--heads 4]

Sizes of configs/shapes-soft.json (features 472 on a 14x14 grid; embedding 128, LSTM 256,
attention 128; vocabulary 40), captions of 5 to 16 tokens, the paper's model and the grid's
self-attention with --heads heads. Steps alternate (benchmarks.common.paired), so the ratio
holds on a machine whose speed drifts.
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.bench_train import make_step
from benchmarks.common import paired, setup_threads
from captioner import ModelConfig

SHAPES_SIZES = dict(feature_dim=472, grid_size=(14, 14), embed_dim=128, hidden_dim=256, attention_dim=128, vocab_size=40, dropout=0.3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--captions-per-image", type=int, default=5)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    setup_threads(args.threads)
    print(f"training step, batch {args.batch} captions, {args.captions_per_image} per image, {args.threads} threads")
    rows = torch.arange(args.batch) // args.captions_per_image
    for name, extra in (("paper's model", {}), (f"grid self-attention, {args.heads} heads", {"grid_self_attention_heads": args.heads})):
        config = ModelConfig(**SHAPES_SIZES, **extra)
        per_caption, per_image, ratio = paired(
            make_step(config, args.batch, 16, varied=True), make_step(config, args.batch, 16, varied=True, image_rows=rows), args.repeats
        )
        print(f"  {name:<34} once per caption {per_caption:.3f} s/step, once per image {per_image:.3f} s/step ({1 / ratio:.2f}x faster)")


if __name__ == "__main__":
    main()
