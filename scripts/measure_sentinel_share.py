"""Mean sentinel share (beta-hat, docs/attention-lab.md) of a trained sentinel model on a generated
data set's test scenes: on the function words "a", "of", "and", "the" and on the words that name an
object of the scene (captioner.evaluation.sentinel_shares: the measure `captioner lab` and
tests/model/test_pretrained.py use).

    python scripts/measure_sentinel_share.py MODEL_DIR path/to/dataset_synth.json [--beam-size 3] [--limit N]
"""

from __future__ import annotations

import argparse

from captioner import Captioner
from captioner.data.datasets import load_dataset
from captioner.evaluation.sentinel_shares import mean_shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("data")
    parser.add_argument("--beam-size", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="the first N test scenes only")
    args = parser.parse_args()
    captioner = Captioner.from_pretrained(args.model, device="cpu")
    if not captioner.model.decoder.sentinel:
        raise SystemExit(f"{args.model}: not a sentinel model (model.sentinel is false)")
    test = [r for r in load_dataset(args.data) if r.split == "test"][: args.limit]
    results = captioner.caption([str(r.image_path) for r in test], beam_size=args.beam_size)
    means = mean_shares(test, results)
    for kind in ("function", "object"):
        mean = means[kind]
        print(f"{kind}: {means[kind + '_words']} words, mean sentinel share {'-' if mean is None else format(mean, '.6f')}")


if __name__ == "__main__":
    main()
