"""Do int8 captions depend on the other images in the batch? Captions one image at a time against
a batch of all, for the torch int8 path and ONNX Runtime int8, and against the float model.

    python scripts/measure_int8_batch.py [--model objects] [--images 32]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    sys.path.insert(0, str(ROOT))
    import torch

    from captioner import Captioner

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="objects")
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    paths = sorted(
        p for folder in ("data/samples", "data/photos") for p in (ROOT / folder).iterdir() if p.suffix.lower() in (".jpg", ".png")
    )[: args.images]
    reference = [r.text for r in Captioner.from_pretrained(args.model, device="cpu").caption(paths, batch_size=len(paths))]
    for name, kwargs in (("int8", dict(int8=True)), ("int8+onnx", dict(int8=True, onnx=True))):
        cap = Captioner.from_pretrained(args.model, device="cpu", **kwargs)
        cap.caption(paths[:2])  # exports, warm-up
        started = time.perf_counter()
        alone = [cap.caption([p], batch_size=1)[0].text for p in paths]
        one_at_a_time = (time.perf_counter() - started) / len(paths)
        started = time.perf_counter()
        batched = [r.text for r in cap.caption(paths, batch_size=len(paths))]
        per_image_batched = (time.perf_counter() - started) / len(paths)
        differ = sum(a != b for a, b in zip(alone, batched))
        from_float = sum(a != b for a, b in zip(batched, reference))
        alone_from_float = sum(a != b for a, b in zip(alone, reference))
        print(
            f"{name}: {len(paths)} images, batch 1 vs batch {len(paths)}: {differ} differ; batched vs float: "
            f"{from_float} differ, alone vs float: {alone_from_float} differ; {one_at_a_time * 1000:.0f} ms/image alone, {per_image_batched * 1000:.0f} ms/image batched"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
