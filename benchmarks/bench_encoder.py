"""How to get a 14x14 annotation grid from EfficientNet-Lite0: cost of each option on the CPU.

    python -m benchmarks.bench_encoder [--threads 2] [--batch 32]

Options: stride-16 features at 224 px (14x14x112), stride-16 plus upsampled stride-32 features
at 224 px (14x14x432), stride-32 features at 448 px (14x14x320), and stride-32 at 224 px
(7x7x320) for reference.

    python -m benchmarks.bench_encoder --inference [--threads 2] [--batch 32] [--rounds 5]

How inference runs the default model's encoder (stride 16 + head, 224 px): batch norm as its own
operation (the modules as saved) or folded into the convolutions, on torch or ONNX Runtime
(runtime/onnx_encoder), and the batch in chunks of 1 to 32 images; rounds interleaved, medians
(runtime/folded_encoder.CPU_CHUNK is the chunk inference uses).

    python -m benchmarks.bench_encoder --agreement data/objects-scenes/dataset_objects.json [--model objects] [--n 200] [--onnx]

How many captions of the first n test images change when batch norm is folded (with --onnx: when
the model runs on ONNX Runtime).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from benchmarks.common import best_of, setup_threads
from captioner import ModelConfig
from captioner.model.encoder import build_encoder
from captioner.runtime import folded_encoder
from captioner.runtime.inference import InferenceRuntime
from captioner.runtime.onnx_encoder import OnnxEncoder

CHUNKS = (1, 2, 4, 8, 16, 32)

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
    parser.add_argument("--inference", action="store_true", help="batch norm folded or not, by chunk size")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--agreement", metavar="DATA", help="with --model: captions of DATA's test images, folded or not")
    parser.add_argument("--model", default="objects")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--onnx", action="store_true", help="with --agreement: torch against ONNX Runtime (encoder and decoding step)")
    args = parser.parse_args()
    setup_threads(args.threads)
    if args.agreement:
        return agreement(args.model, args.agreement, args.n, args.onnx)
    if args.inference:
        return inference(args.batch, args.rounds)
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


def inference(batch: int, rounds: int) -> None:
    enc = build_encoder(ModelConfig(feature_levels=(3, 5), grid_level=3))
    x = torch.randn(batch, 3, 224, 224)
    in_use = folded_encoder.CPU_CHUNK
    runs = [("separate", c) for c in (1, 4, batch)] + [("folded", c) for c in CHUNKS if c <= batch]
    runs += [("onnx", c) for c in (1, 4, batch)]
    times = {run: [] for run in runs}
    folded = folded_encoder.FoldedEncoder(enc, 224)
    onnx = OnnxEncoder(enc, lambda: folded.backbone, x[:1])
    paths = {
        "separate": folded_encoder.FoldedEncoder(enc, 224, fold=False),
        "folded": folded,
        "onnx": lambda pixels: torch.cat([onnx(part) for part in pixels.split(folded_encoder.CPU_CHUNK)]),
    }
    with torch.inference_mode():
        for _ in range(rounds):
            for how, chunk in runs:
                folded_encoder.CPU_CHUNK = chunk
                start = time.perf_counter()
                paths[how](x)
                times[how, chunk].append((time.perf_counter() - start) / batch * 1000)
    folded_encoder.CPU_CHUNK = in_use
    print(f"batch {batch}, rounds {rounds}; CPU_CHUNK in use: {in_use}")
    print(f"{'batch norm':<26} {'chunk':>5} {'ms/img':>8}")
    labels = {"separate": "separate", "folded": "folded", "onnx": "folded, ONNX Runtime"}
    for (how, chunk), t in times.items():
        print(f"{labels[how]:<26} {chunk:>5} {statistics.median(t):>8.1f}")


def agreement(model: str, data: str, n: int, onnx: bool = False) -> None:
    """How many of the first n test captions change when batch norm is folded (float rounding), or
    with `onnx`, when the model runs on ONNX Runtime instead of torch (folded in both)."""
    from captioner import Captioner
    from captioner.data.datasets import load_karpathy

    images = [r.image_path for r in load_karpathy(data) if r.split == "test"][:n]
    cap = Captioner.from_pretrained(model, device="cpu")
    folded = [r.text for r in cap.caption(images)]
    if onnx:
        other, what = [r.text for r in Captioner.from_pretrained(model, device="cpu", onnx=True).caption(images)], "on ONNX Runtime"
    else:
        cap.runtime = InferenceRuntime(cap.model, fold_batch_norm=False)
        other, what = [r.text for r in cap.caption(images)], "with batch norm separate"
    changed = [(a, b) for a, b in zip(folded, other) if a != b]
    print(f"{model}: {len(changed)} of {len(images)} captions change {what}")
    for a, b in changed:
        print(f"  {a!r} -> {b!r}")


if __name__ == "__main__":
    main()
