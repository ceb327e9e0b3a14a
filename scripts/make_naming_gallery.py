"""Write the naming gallery: every photo of a photo set with the heatmap of the word that names its
main object, the decoder's caption and the caption with naming (captioner/evaluation/gallery.py).

    python scripts/make_naming_gallery.py [--photos data/photos] [--page docs/naming-gallery.md]
        [--images docs/images/naming-gallery]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from captioner.evaluation.gallery import write_gallery
from captioner.pipeline import Captioner

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, default=ROOT / "data" / "photos", help="a photo set folder (its photos.csv)")
    parser.add_argument("--page", type=Path, default=ROOT / "docs" / "naming-gallery.md")
    parser.add_argument("--images", type=Path, default=ROOT / "docs" / "images" / "naming-gallery")
    parser.add_argument("--beam-size", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(2)
    captioner = Captioner.from_pretrained(device="cpu")
    print("wrote", write_gallery(captioner, args.photos, args.page, args.images, args.beam_size))


if __name__ == "__main__":
    main()
