"""Mean sentinel share (beta-hat, docs/attention-lab.md) of a trained sentinel model on a generated
data set's test scenes: on the function words "a", "of", "and", "the" and on the words that name an
object (grounded in the training captions).

    python scripts/measure_sentinel_share.py MODEL_DIR path/to/dataset_synth.json [--beam-size 3]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from captioner import Captioner
from captioner.decoding.options import decoding_options
from captioner.decoding.search import generate

FUNCTION_WORDS = frozenset({"a", "of", "and", "the"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("data")
    parser.add_argument("--beam-size", type=int, default=3)
    args = parser.parse_args()
    captioner = Captioner.from_pretrained(args.model, device="cpu")
    if not captioner.model.decoder.sentinel:
        raise SystemExit(f"{args.model}: not a sentinel model (model.sentinel is false)")
    data = json.loads(Path(args.data).read_text())
    root = Path(args.data).parent
    object_words = {
        token
        for image in data["images"]
        if image["split"] == "train"
        for sentence in image["sentences"]
        for token, grounded in zip(sentence["tokens"], sentence.get("grounding") or [])
        if grounded is not None
    }
    test = [image for image in data["images"] if image["split"] == "test"]
    shares = defaultdict(list)
    for start in range(0, len(test), 16):
        images = [Image.open(root / image.get("filepath", "") / image["filename"]).convert("RGB") for image in test[start : start + 16]]
        hyps = generate(captioner.runtime.step(), captioner.encode(images), decoding_options(beam_size=args.beam_size))
        for b in range(len(images)):
            n = int(hyps.lengths[b, 0])
            for token, share in zip(hyps.tokens[b, 0, :n].tolist(), hyps.sentinel_shares[b, 0, :n].tolist()):
                word = captioner.vocab.itos[token]
                shares["function" if word in FUNCTION_WORDS else "object" if word in object_words else "other"].append(share)
    for kind in ("function", "object", "other"):
        print(f"{kind}: {len(shares[kind])} words, mean sentinel share {np.mean(shares[kind]) if shares[kind] else float('nan'):.3f}")


if __name__ == "__main__":
    main()
