"""Cost of the shipped object detector per image on the CPU.

    python -m benchmarks.bench_detector [--threads 2] [--repeats 15]

Median wall time over repeats (after a warm-up) of each stage for one photo at a time: the
preprocessing (scale, letterbox, normalise), the network on ONNX Runtime, the decoding with
per-class NMS, and ObjectDetector.detect() end to end; also the session's creation.
"""

from __future__ import annotations

import argparse
import time

from PIL import Image

from benchmarks.common import best_of, setup_threads
from captioner.recognition.detector import ObjectDetector, preprocess

PHOTOS = ("data/photos/gc_horses.jpg", "data/photos/sk_motorcycle.jpg")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    setup_threads(args.threads)  # the detector's session takes torch's thread count

    images = []
    for path in PHOTOS:
        with Image.open(path) as image:
            images.append(image.convert("RGB"))
    detector = ObjectDetector.from_pretrained()
    start = time.perf_counter()
    _ = detector.session  # made on first use
    print(f"ONNX Runtime session made in {1000 * (time.perf_counter() - start):.0f} ms")
    for path, image in zip(PHOTOS, images):
        pixels, scale = preprocess(image)
        outputs = detector.run_model(pixels)
        stages = {
            "preprocess": lambda: preprocess(image),
            "network": lambda: detector.run_model(pixels),
            "decode + NMS": lambda: detector.detections(outputs, scale, image.size),
            "detect() end to end": lambda: detector.detect(image),
        }
        figures = {name: best_of(fn, repeats=args.repeats) for name, fn in stages.items()}
        print(f"{path} ({image.width}x{image.height}): " + "; ".join(f"{name} {1000 * t:.1f} ms" for name, t in figures.items()))


if __name__ == "__main__":
    main()
