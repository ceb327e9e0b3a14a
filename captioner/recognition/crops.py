"""The encoder's ImageNet classifier on a crop of the photo around where a word looked.

RegionClassifier reads the head features pooled with a word's attention map: a 7x7 grid of the
whole picture squashed to 224 px, where an object that fills a quarter of the photo is a few
cells, seen at a quarter of the scale the classifier was trained at. Cropping the photo around
those cells and encoding the crop at 224 px shows the same region to the classifier at its own
scale, as ImageNet's pictures show an object. The crop's probabilities are averaged with the
pooled ones (Namer._slots): on data/photos-tuning this named more objects and gave fewer wrong
names (docs/naming.md, "fourth round"). It costs one encoder pass per object word.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from captioner.recognition.classifier import RegionClassifier

MASS = 0.8  # the crop holds the fewest cells that carry this much of the word's attention
MARGIN = 0.15  # and this much of its side again on each side (context, as ImageNet's crops have)


def attended_box(attention: np.ndarray, size: tuple[int, int], mass: float = MASS, margin: float = MARGIN) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) in pixels of an image of `size` (width, height): a square around the
    bounding box of the grid cells that carry `mass` of `attention` (H, W), widened by `margin`,
    cut at the image's edges."""
    H, W = attention.shape
    flat = np.asarray(attention, dtype=np.float64).ravel()
    order = np.argsort(-flat, kind="stable")
    cumulative = np.cumsum(flat[order])
    keep = order[: int(np.searchsorted(cumulative, mass * cumulative[-1])) + 1]
    ys, xs = keep // W, keep % W
    width, height = size
    x0, x1 = xs.min() / W * width, (xs.max() + 1) / W * width
    y0, y1 = ys.min() / H * height, (ys.max() + 1) / H * height
    side = min(max(x1 - x0, y1 - y0) * (1 + 2 * margin), max(width, height))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    box = (max(0.0, cx - side / 2), max(0.0, cy - side / 2), min(width, cx + side / 2), min(height, cy + side / 2))
    return tuple(int(round(v)) for v in box)


class CropClassifier:
    """ImageNet class probabilities of crops of an image: each crop encoded by the captioning
    model's own encoder (`encode`: RGB PIL images -> annotations (B, L, D)) and its head features
    averaged over the grid, as the classifier was trained to read them."""

    def __init__(self, encode: Callable[[Sequence[Image.Image]], torch.Tensor], classifier: RegionClassifier):
        self.encode, self.classifier = encode, classifier

    @classmethod
    def for_model(cls, model, classifier: RegionClassifier) -> CropClassifier:
        from captioner.model.encoder import preprocessor_for

        preprocessor = preprocessor_for(model.config)

        @torch.inference_mode()
        def encode(images: Sequence[Image.Image]) -> torch.Tensor:
            weight = next(model.parameters())
            pixels = preprocessor([im.convert("RGB") for im in images]).to(weight.device, weight.dtype)
            return model.encode(pixels).float().cpu()

        return cls(encode, classifier)

    def probabilities(self, image: Image.Image, attention: np.ndarray) -> torch.Tensor:
        """attention (K, H, W), one map per word: (K, 1000), the classifier on each word's crop."""
        crops = [image.crop(attended_box(a, image.size)) for a in attention]
        features = self.encode(crops)
        L = features.shape[1]
        uniform = torch.full((features.shape[0], 1, L), 1.0 / L)
        return self.classifier.probabilities(features, uniform)[:, 0]
