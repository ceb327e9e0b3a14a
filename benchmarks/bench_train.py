"""Training cost on the CPU: one decoder step (forward, backward, Adam) at the paper's sizes and
at small sizes, and training throughput with and without the feature cache.

    python -m benchmarks.bench_train [--threads 2] [--batch 32] [--steps-only] [--plain]

The steps run training's fast teacher forcing (captioner/training/fast_decoder.py, what
`captioner train` runs); --plain runs the decoder's own forward, the paper as written
(`--set train.speedups=false`).

Sizes as in design.md's reference measurements of the best-known tutorial (3.4 s a step at the
paper's sizes, 0.19 s at the small sizes; batch 32, captions of 20 tokens):
  paper: embedding, LSTM and attention 512; features 2048 on a 14x14 grid; vocabulary 1000
  small: embedding, LSTM and attention 256; features 112 on a 14x14 grid; vocabulary 60
"default" is the shipped model's decoder on the default encoder's grid (432 features).
"""

from __future__ import annotations

import argparse
from functools import partial

import numpy as np
import torch

from benchmarks.common import REFERENCE_SIZES, best_of, photos, setup_threads
from captioner import ModelConfig
from captioner.model.decoder import Decoder
from captioner.model.encoder import build_encoder, preprocessor_for
from captioner.training.config import TrainConfig
from captioner.training.fast_decoder import FastTraining, teacher_forcing
from captioner.training.loop import caption_loss

SIZES = {
    **REFERENCE_SIZES,
    "default": dict(embed_dim=128, hidden_dim=256, attention_dim=128, feature_dim=432, vocab_size=60),
}


def make_step(config: ModelConfig, batch: int, tokens: int, varied: bool = False, plain: bool = False, image_rows=None):
    """One training step on random features and captions of `tokens` targets each, or with
    `varied`, of 5 to `tokens` targets (<end> included; <pad> after), as real captions are.
    With `image_rows` (batch,), the captions are of image_rows.max() + 1 images, each image's
    features given once (teacher_forcing's image_rows)."""
    torch.manual_seed(0)
    decoder = Decoder(config).train()
    optimizer = torch.optim.Adam(decoder.parameters(), lr=1e-4)
    feats = torch.randn(batch if image_rows is None else int(image_rows.max()) + 1, 196, config.feature_dim)
    captions = torch.randint(4, config.vocab_size, (batch, tokens + 1))
    captions[:, 0] = 1
    if varied:
        lengths = torch.randint(5, tokens + 1, (batch,))
        captions[torch.arange(batch), lengths] = 2  # <end>
        captions[torch.arange(tokens + 1) > lengths.unsqueeze(1)] = 0  # <pad>
    train_config = TrainConfig()

    forward = decoder if plain else partial(teacher_forcing, decoder, image_rows=image_rows)

    def step(features=feats):
        out = forward(features, captions)
        loss, _, _ = caption_loss(out, captions[:, 1:], train_config, None)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--steps-only", action="store_true", help="only the decoder steps (not throughput or fine-tuning)")
    parser.add_argument("--plain", action="store_true", help="the decoder's plain forward instead of training's speed-ups")
    args = parser.parse_args()
    setup_threads(args.threads)

    print(
        f"decoder training step, batch {args.batch}, {args.tokens} tokens, {args.threads} threads{', plain forward' if args.plain else ''}"
    )
    step_seconds = {}
    for name, sizes in SIZES.items():
        config = ModelConfig(grid_size=(14, 14), dropout=0.5, **sizes)
        step_seconds[name] = best_of(make_step(config, args.batch, args.tokens, plain=args.plain), repeats=3)
        varied = best_of(make_step(config, args.batch, args.tokens, varied=True, plain=args.plain), repeats=3)
        print(f"  {name:<8} {step_seconds[name]:.3f} s/step; captions of 5-{args.tokens} tokens: {varied:.3f} s/step")
    if args.steps_only:
        return

    # Throughput for the default model: encoder run every step (no cache) vs features read from a
    # memory-mapped cache, as `captioner train` does.
    config = ModelConfig(grid_size=(14, 14), **SIZES["default"])
    encoder = build_encoder(ModelConfig())
    prep = preprocessor_for(ModelConfig())
    images = photos(args.batch)
    step = make_step(config, args.batch, args.tokens, plain=args.plain)

    def without_cache():
        with torch.inference_mode():
            feats = encoder(prep(images))
        step(feats.clone())

    cache = np.lib.format.open_memmap("/tmp/bench_train_cache.npy", mode="w+", dtype=np.float16, shape=(args.batch * 8, 196, 432))
    cache[:] = np.random.default_rng(0).normal(size=cache.shape).astype(np.float16)
    rng = np.random.default_rng(1)

    def with_cache():
        index = np.sort(rng.choice(len(cache), args.batch, replace=False))
        step(torch.from_numpy(np.array(cache[index], dtype=np.float32)))

    t_no = best_of(without_cache, repeats=3)
    t_yes = best_of(with_cache, repeats=3)
    print(f"default model, images/s: without feature cache {args.batch / t_no:.1f}, with cache {args.batch / t_yes:.1f}")

    # Encoder fine-tuning (finetune_blocks=N) at the shipped objects model's sizes: each step reads
    # the cached output of the frozen part and runs, and trains, the last N blocks (N = 0: the
    # cached annotations, the decoder alone).
    rates = []
    for blocks in (0, 1, 2):
        rates.append(args.batch / best_of(fine_tuning_step(images, blocks, args.tokens, args.plain), repeats=3))
    print(
        "objects model sizes, images/s with the last N encoder blocks trained: "
        + ", ".join(f"N={n} {rate:.1f}" for n, rate in enumerate(rates))
    )


def fine_tuning_step(images, blocks: int, tokens: int, plain: bool = False):
    """A training step of a CaptionModel at the objects model's sizes with `blocks` trainable
    encoder blocks, on what the cache would hold (the annotations, or the frozen part's output)."""
    from captioner.model.model import CaptionModel

    torch.manual_seed(0)
    config = ModelConfig(
        feature_levels=(3, 5), grid_level=3, embed_dim=256, hidden_dim=512, attention_dim=256, vocab_size=300, finetune_blocks=blocks
    )
    model = CaptionModel(config).train()
    pixels = preprocessor_for(config)(images)
    with torch.no_grad():
        cached = (model.encode_frozen(pixels) if blocks else model.encode(pixels)).half().float()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    captions = torch.randint(4, config.vocab_size, (len(images), tokens + 1))
    captions[:, 0] = 1
    train_config = TrainConfig()
    forward = model if plain else FastTraining(model)

    def step():
        out = forward(cached, captions, from_frozen=blocks > 0)
        loss, _, _ = caption_loss(out, captions[:, 1:], train_config, None)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


if __name__ == "__main__":
    main()
