"""Helpers shared by the benchmarks: timing and test inputs."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import time

import torch

# design.md's reference sizes, at which the best-known tutorial's own code was measured here.
REFERENCE_SIZES = {
    "paper": dict(embed_dim=512, hidden_dim=512, attention_dim=512, feature_dim=2048, vocab_size=1000),
    "small": dict(embed_dim=256, hidden_dim=256, attention_dim=256, feature_dim=112, vocab_size=60),
}


def setup_threads(threads: int) -> None:
    """Set torch's threads and print what the figures were measured on: the machine changes them,
    and so does other work on it (the load average), so both go with every figure."""
    torch.set_num_threads(threads)
    cpu = next(
        (line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines() if line.startswith("model name")),
        platform.processor(),
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {cpu}, {os.cpu_count()} cores; "
        f"torch {torch.__version__}, {threads} threads; load average {load}"
    )


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


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


def paired(fn_a, fn_b, repeats: int = 7, warmup: int = 1) -> tuple[float, float, float]:
    """`fn_a` and `fn_b` run in turn (A B A B ...): their median wall times in seconds and the
    median of the ratios B / A pair by pair, which holds when the machine's speed drifts."""
    for _ in range(warmup):
        fn_a(), fn_b()
    a, b = [], []
    for _ in range(repeats):
        for fn, times in ((fn_a, a), (fn_b, b)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return statistics.median(a), statistics.median(b), statistics.median(y / x for x, y in zip(a, b))


def photos(n: int):
    """n real photographs (scikit-image's bundled samples, cycled), as RGB PIL images."""
    from PIL import Image
    from skimage import data

    names = ["astronaut", "chelsea", "coffee", "rocket", "camera", "immunohistochemistry"]
    base = [Image.fromarray(getattr(data, name)()).convert("RGB") for name in names]
    return [base[i % len(base)] for i in range(n)]


def user_photos(n: int):
    """n real photographs as users upload them: the project's evaluation photos (data/photos: 217
    photos of objects and animals, people and places, longer side <= 512 px), spread evenly over the
    set in file-name order so that each of its kinds is in it, cycled past its size; RGB PIL images.
    (110 photos until 2026-12-05, 190 until naming's eighth round: records before then captioned
    another spread.)"""
    from pathlib import Path

    from PIL import Image

    files = sorted((Path(__file__).resolve().parents[1] / "data" / "photos").glob("*.jpg"))
    chosen = [files[(i * len(files)) // min(n, len(files))] for i in range(min(n, len(files)))]
    base = []
    for path in chosen:
        with Image.open(path) as image:
            base.append(image.convert("RGB"))
    return [base[i % len(base)] for i in range(n)]


def synthetic_vocab(size: int = 60):
    from captioner.vocab import SPECIALS, Vocabulary

    return Vocabulary(list(SPECIALS) + [f"w{i}" for i in range(size - len(SPECIALS))])
