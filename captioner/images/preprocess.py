"""Image preprocessing shared by training and inference.

The whole image is resized (squashed, not cropped) to a square: the model must see everything it
may be asked to describe, and each attention cell then maps to the same fraction of the original
image in both axes, which is what the heatmaps rely on.
Resizing runs on PIL images (in data-loader workers); normalisation runs on whole uint8 batches.
Which mean and std a backbone wants is the encoder's knowledge: `model.encoder.preprocessor_for`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

# A downscale by more than this is an integer box reduction first, then bicubic (PIL's reducing_gap).
REDUCING_GAP = 3.0


@dataclass(frozen=True)
class Preprocessor:
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def resize(self, image: Image.Image) -> np.ndarray:
        """RGB PIL image -> uint8 array (S, S, 3). reducing_gap makes large downscales cheap
        (an integer box reduction first, then bicubic) at no visible cost."""
        size = (self.image_size, self.image_size)
        if image.size != size:
            image = image.resize(size, Image.Resampling.BICUBIC, reducing_gap=REDUCING_GAP)
        return np.asarray(image, dtype=np.uint8)

    @property
    def source_side(self) -> int:
        """The fewest pixels a side of the image needs before `resize`: twice the size from which
        its own box reduction (reducing_gap) starts. A large JPEG is decoded at a reduced scale
        down to this (images.load_image's min_side), 2.5-3x faster for a phone photo; libjpeg's
        reduction is a coarser filter than PIL's, and stopping at twice the size keeps the model's
        input about as close to an exact bicubic resize as the box reduction alone is (49 photos
        at 4032 px: mean difference 0.22 levels in 255, against 0.17)."""
        return int(2 * self.image_size * REDUCING_GAP)

    @staticmethod
    def stack(arrays: list[np.ndarray]) -> torch.Tensor:
        """List of (S, S, 3) uint8 arrays -> uint8 tensor (B, 3, S, S)."""
        return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)

    def normalize(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 (B, 3, S, S) -> float32, normalised as the backbone expects."""
        mean = torch.tensor(self.mean, device=batch.device).view(1, 3, 1, 1) * 255.0
        std = torch.tensor(self.std, device=batch.device).view(1, 3, 1, 1) * 255.0
        return (batch.float() - mean) / std

    def batch(self, arrays: list[np.ndarray], device: torch.device | str = "cpu") -> torch.Tensor:
        """`resize`d arrays -> the encoder's input (B, 3, S, S) float32 on `device` (normalised there)."""
        return self.normalize(self.stack(arrays).to(device))

    def __call__(self, images: list[Image.Image]) -> torch.Tensor:
        return self.batch([self.resize(im) for im in images])
