"""A word that did not look at the image, and the picture shown for it: when the visual sentinel
(docs/attention-lab.md) took most of a word's attention, its map over the image is only the small
rest and shows noise, so the image is shown greyed instead. One rule for every picture of a word:
the web app's (app/lab_views.py), the exported grid PNG and GIF (viz/render.py)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

# A word whose sentinel share is above this took most of its attention from the language model's
# sentinel rather than the grid: its map over the image is the small rest, and shows noise.
SENTINEL_THRESHOLD = 0.5


def looked_away(sentinel_shares: np.ndarray | None, word: int, threshold: float = SENTINEL_THRESHOLD) -> bool:
    """True if word `word` gave more than `threshold` of its attention to the sentinel."""
    return sentinel_shares is not None and float(sentinel_shares[word]) > threshold


def greyed(image: Image.Image) -> Image.Image:
    """The image in pale grey: shown instead of a heatmap for a word that did not look at it."""
    grey = ImageOps.grayscale(image).convert("RGB")
    return Image.blend(grey, Image.new("RGB", grey.size, (255, 255, 255)), 0.55)
