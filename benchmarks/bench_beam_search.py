"""Beam search cost per image, decoder only (features given), one image at a time vs batched.

    python -m benchmarks.bench_beam_search [--threads 2] [--beam-size 3] [--int8] [--onnx]

Random decoders at design.md's reference sizes with <end> suppressed, so every caption runs the
full 20 steps (the best-known tutorial's own code: ~275 ms per image at the paper's sizes and
15-20 ms at the small sizes, beam 3, one image at a time, on these machines).
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.common import REFERENCE_SIZES, best_of, setup_threads
from captioner import ModelConfig
from captioner.decoding.search import beam_search
from captioner.model.decoder import Decoder
from captioner.runtime.inference import decoding_step
from captioner.vocab import Vocabulary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--beam-size", type=int, default=3)
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--int8", action="store_true", help="decode with int8 projections (Captioner(int8=True))")
    parser.add_argument(
        "--onnx", action="store_true", help="run the decoding step on ONNX Runtime (Captioner(onnx=True)); with --int8, in int8 there"
    )
    args = parser.parse_args()
    setup_threads(args.threads)
    print(
        f"beam {args.beam_size}, 20 steps, {args.threads} threads{', int8' if args.int8 else ''}{', ONNX Runtime' if args.onnx else ''}; ms per image"
    )
    print(f"{'sizes':<7} {'one at a time':>14} {'batch ' + str(args.images):>10} {'speed-up':>9}")
    for name, sizes in REFERENCE_SIZES.items():
        torch.manual_seed(0)
        decoder = Decoder(ModelConfig(grid_size=(14, 14), max_len=20, **sizes)).eval()
        with torch.no_grad():
            decoder.out.bias[Vocabulary.end_id] = -1e4
        step = decoding_step(decoder, int8=args.int8, onnx=args.onnx)
        feats = torch.randn(args.images, 196, sizes["feature_dim"])

        def one_at_a_time(n=8):
            for i in range(n):
                beam_search(step, feats[i : i + 1], beam_size=args.beam_size, max_len=20)

        def batched():
            beam_search(step, feats, beam_size=args.beam_size, max_len=20)

        single = best_of(one_at_a_time, repeats=3) / 8 * 1000
        batch = best_of(batched, repeats=3) / args.images * 1000
        print(f"{name:<7} {single:>14.1f} {batch:>10.1f} {single / batch:>8.1f}x")


if __name__ == "__main__":
    main()
