"""A word's attention map at image resolution, and its peak: one definition for the metrics, the
pictures and the batch records.

The model sees the whole image squashed to a square, so grid cell (i, j) covers rows i/H..(i+1)/H
and columns j/W..(j+1)/W of the image whatever its shape. A map is stretched the same way, with
torch's interpolate (half-pixel centres): "bilinear" (the default: what attention correctness
measures and what the heatmaps show), "bicubic" (smoother; its overshoot below zero is clipped) or
"nearest" (the grid's cells as blocks). A bilinear map's maximum lies at a cell centre, so at any
resolution its peak is in the grid's most attended cell.
"""

from __future__ import annotations

import numpy as np

SMOOTHING = ("bilinear", "bicubic", "nearest")
DEFAULT_SMOOTH = "bilinear"
_TORCH_MODE = {"bilinear": "bilinear", "bicubic": "bicubic", "nearest": "nearest-exact"}


def upsample(attention_map: np.ndarray, size: tuple[int, int], smooth: str = DEFAULT_SMOOTH) -> np.ndarray:
    """One (H, W) map stretched to `size` = (width, height) pixels: float64 (height, width), >= 0.
    Not renormalised: callers scale it (to sum 1 for measuring, to peak 1 for showing)."""
    if smooth not in _TORCH_MODE:
        raise ValueError(f"unknown smooth {smooth!r}: use one of {', '.join(SMOOTHING)}")
    grid = np.asarray(attention_map, dtype=np.float64)
    if grid.ndim != 2 or grid.size == 0:
        raise ValueError(f"attention map should be a non-empty 2-D (H, W) array, got shape {grid.shape}")
    if not np.isfinite(grid).all():
        raise ValueError("attention map contains NaN or infinite values")
    width, height = (int(v) for v in size)
    if width < 1 or height < 1:
        raise ValueError(f"size should be positive (width, height), got {size!r}")
    if (height, width) == grid.shape:
        return np.clip(grid, 0.0, None)
    import torch  # here, not above: the command line's help reads this module's names without loading torch
    import torch.nn.functional as F

    options = {} if smooth == "nearest" else {"align_corners": False}
    up = F.interpolate(torch.from_numpy(grid)[None, None], size=(height, width), mode=_TORCH_MODE[smooth], **options)
    return np.clip(up[0, 0].numpy(), 0.0, None)


def peak(attention_map: np.ndarray, size: tuple[int, int] | None = None, smooth: str = DEFAULT_SMOOTH) -> tuple[int, int]:
    """(x, y) of the upsampled map's maximum pixel (the first in row-major order on ties); with
    `size` None, at the grid's own resolution: (column, row) of the most attended cell."""
    grid = np.asarray(attention_map)
    up = upsample(grid, size or (grid.shape[1], grid.shape[0]), smooth)
    y, x = np.unravel_index(int(np.argmax(up)), up.shape)
    return int(x), int(y)
