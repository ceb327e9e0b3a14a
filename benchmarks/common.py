"""Helpers shared by the benchmarks: timing and test inputs."""

from __future__ import annotations

import statistics
import time

import torch


# design.md's reference sizes, at which the best-known tutorial's own code was measured here.
REFERENCE_SIZES = {
    "paper": dict(embed_dim=512, hidden_dim=512, attention_dim=512, feature_dim=2048, vocab_size=1000),
    "small": dict(embed_dim=256, hidden_dim=256, attention_dim=256, feature_dim=112, vocab_size=60),
}


def setup_threads(threads: int) -> None:
    torch.set_num_threads(threads)


def best_of(fn, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of `fn()` in seconds, after warm-up calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def photos(n: int):
    """n real photographs (scikit-image's bundled samples, cycled), as RGB PIL images."""
    from PIL import Image
    from skimage import data

    names = ["astronaut", "chelsea", "coffee", "rocket", "camera", "immunohistochemistry"]
    base = [Image.fromarray(getattr(data, name)()).convert("RGB") for name in names]
    return [base[i % len(base)] for i in range(n)]


def synthetic_vocab(size: int = 60):
    from captioner.vocab import SPECIALS, Vocabulary

    return Vocabulary(list(SPECIALS) + [f"w{i}" for i in range(size - len(SPECIALS))])
