"""How often the shipped object detector names the object of data/photos, where COCO has its class.

    python benchmarks/eval_detector_photos.py [--min-score 0.3] [--show]

For each of the 49 photos in data/photos/photos.csv, COCO_CLASS below gives the COCO class of the
photo's main object, written by looking at the photos (None where COCO has no such class: fish,
tools, koala, pig ...). Counted over the photos that have one:
  top-1   the detector's best detection is that class;
  found   some detection at or above --min-score is that class.
Over all 49 photos (none shows a person) it also counts the photos with a "person" detection.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from captioner.recognition.detector import ObjectDetector  # noqa: E402

PHOTOS = ROOT / "data" / "photos"

# The main object's COCO class per photo; photos not listed have none.
COCO_CLASS = {
    "sk_chelsea_cat.jpg": "cat",
    "sk_coffee_cup.jpg": "cup",
    "sk_motorcycle.jpg": "motorcycle",
    "gc_cat.jpg": "cat",
    "gc_hens.jpg": "bird",
    "gc_cow.jpg": "cow",
    "gc_dog.jpg": "dog",
    "gc_duck.jpg": "bird",
    "gc_horses.jpg": "horse",
    "gc_owl.jpg": "bird",
    "gc_sheep.jpg": "sheep",
    "gc_giraffes.jpg": "giraffe",
    "gc_polar_bear.jpg": "bear",
    "gc_macaw.jpg": "bird",
    "gc_scissors.jpg": "scissors",
    "gc_cup.jpg": "cup",
    "gc_teacup.jpg": "cup",
    "gc_baseball.jpg": "sports ball",
    "gc_volleyball.jpg": "sports ball",
    "cv_apple.jpg": "apple",
    "cv_orange.jpg": "orange",
    "cv_fruits.jpg": "orange",
    "cv_dog.jpg": "dog",
}


def evaluate(detector: ObjectDetector, min_score: float, show: bool) -> dict[str, int]:
    with open(PHOTOS / "photos.csv", newline="") as f:
        files = [row["file"] for row in csv.DictReader(f)]
    counts = {"photos": len(files), "with_coco_class": 0, "top1": 0, "found": 0, "person_photos": 0}
    for name in files:
        with Image.open(PHOTOS / name) as image:
            detections = detector.detect(image, min_score=min_score)
        expected = COCO_CLASS.get(name)
        names = [d.label for d in detections]
        counts["person_photos"] += "person" in names
        if expected is not None:
            counts["with_coco_class"] += 1
            counts["top1"] += bool(names) and names[0] == expected
            counts["found"] += expected in names
        if show:
            shown = ", ".join(f"{d.label} {d.score:.2f}" for d in detections[:4]) or "-"
            print(f"{name:22s} {expected or '':12s} {shown}")
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--min-score", type=float, default=0.3)
    parser.add_argument("--show", action="store_true", help="print each photo's detections")
    args = parser.parse_args(argv)
    c = evaluate(ObjectDetector.from_pretrained(), args.min_score, args.show)
    n = c["with_coco_class"]
    print(
        f"min_score {args.min_score}: of {n} photos whose object has a COCO class, "
        f"top-1 {c['top1']} ({c['top1'] / n:.0%}), found {c['found']} ({c['found'] / n:.0%}); "
        f"'person' detected in {c['person_photos']} of {c['photos']} photos without people"
    )


if __name__ == "__main__":
    main()
