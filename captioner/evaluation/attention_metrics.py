"""Attention correctness (Liu et al., AAAI 2017): a word's attention map is upsampled to the
image size and renormalised, and the mass inside the referent's ground-truth box is compared with
the uniform baseline (box area / image area). We also report whether the map's peak is in the box.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

def _resize_matrix(n_in: int, n_out: int, mode: str) -> np.ndarray:
    """(n_out, n_in) matrix mapping a 1-D grid to pixels; rows sum to 1.

    Both modes treat grid cell c as covering pixels [c, c+1) * n_out / n_in (half-pixel centres):
    "bilinear" interpolates between cell centres and holds the edge value beyond the outer centres
    (as torch's interpolate(mode="bilinear", align_corners=False)); "nearest" gives each pixel the
    cell its centre lies in (torch's "nearest-exact").
    """
    out = np.arange(n_out, dtype=np.float64)
    matrix = np.zeros((n_out, n_in), dtype=np.float64)
    if mode == "nearest":
        cell = np.minimum(np.floor((out + 0.5) * n_in / n_out).astype(int), n_in - 1)
        matrix[np.arange(n_out), cell] = 1.0
        return matrix
    source = np.clip((out + 0.5) * n_in / n_out - 0.5, 0.0, n_in - 1)
    lo = np.floor(source).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = source - lo
    np.add.at(matrix, (np.arange(n_out), lo), 1.0 - frac)
    np.add.at(matrix, (np.arange(n_out), hi), frac)
    return matrix


def upsample_attention(attention: np.ndarray, image_size: tuple[int, int], mode: str = "bilinear") -> np.ndarray:
    """An (H, W) grid map resized to the image's (height, width) pixels and renormalised to sum 1."""
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"upsample mode should be 'bilinear' or 'nearest', got {mode!r}")
    att = np.asarray(attention, dtype=np.float64)
    if att.ndim != 2 or att.size == 0:
        raise ValueError(f"attention map should be a 2-D (H, W) array, got shape {att.shape}")
    if not np.all(np.isfinite(att)) or np.any(att < 0) or att.sum() <= 0:
        raise ValueError("attention map should be finite and non-negative with a positive sum")
    width, height = (int(v) for v in image_size)
    if width <= 0 or height <= 0:
        raise ValueError(f"image size should be positive (W, H), got {image_size}")
    # separable: rows then columns, exact and cheap compared with a 2-D resize of the full image
    up = _resize_matrix(att.shape[0], height, mode) @ att @ _resize_matrix(att.shape[1], width, mode).T
    return up / up.sum()


def _as_boxes(box) -> list[tuple[float, float, float, float]]:
    boxes = np.asarray(box, dtype=np.float64)
    if boxes.ndim == 1:
        boxes = boxes[None]
    if boxes.ndim != 2 or boxes.shape[1] != 4 or len(boxes) == 0:
        raise ValueError(f"box should be (x0, y0, x1, y1) or a list of such boxes, got {box!r}")
    return [tuple(b) for b in boxes]


def _coverage(lo: float, hi: float, n: int) -> np.ndarray:
    """Fraction of each pixel [i, i+1) of an axis of n pixels that lies inside [lo, hi)."""
    edges = np.arange(n, dtype=np.float64)
    return np.clip(np.minimum(hi, edges + 1) - np.maximum(lo, edges), 0.0, 1.0)


def attention_correctness(attention: np.ndarray, box, image_size: tuple[int, int], *,
                          upsample: str = "bilinear") -> dict:
    """How much of one word's attention lies on its referent (Liu et al., AAAI 2017).

    attention:  (H, W) grid map (normalised here, so any non-negative map with positive mass works).
    box:        (x0, y0, x1, y1) in image pixels, half-open (x0 <= x < x1), clipped to the image;
                or a list of boxes, whose union is the region (e.g. a plural word's objects).
    image_size: (W, H) in pixels, as PIL's Image.size.
    upsample:   "bilinear" (default: the smooth map people see as a heatmap) or "nearest".
    Returns {"mass_in_box": attention mass inside the region, after upsampling and renormalising;
             "baseline": region area / image area, what a uniform map scores;
             "peak_in_box": whether the upsampled map's maximum pixel has its centre in the region
                            (ties: the first maximum in row-major order);
             "peak_xy": that pixel's (x, y)}.
    Fractional box edges count the covered part of each edge pixel, so a uniform map scores the
    baseline exactly; where several boxes overlap, a pixel counts once (its largest coverage).
    """
    up = upsample_attention(attention, image_size, upsample)
    height, width = up.shape
    region = np.zeros_like(up)
    centre_in = np.zeros(up.shape, dtype=bool)
    centres_y = np.arange(height) + 0.5
    centres_x = np.arange(width) + 0.5
    for x0, y0, x1, y1 in _as_boxes(box):
        region = np.maximum(region, np.outer(_coverage(y0, y1, height), _coverage(x0, x1, width)))
        centre_in |= np.outer((centres_y >= y0) & (centres_y < y1), (centres_x >= x0) & (centres_x < x1))
    if region.sum() <= 0:
        raise ValueError(f"box {box!r} does not overlap the {width}x{height} image")
    peak_y, peak_x = np.unravel_index(int(np.argmax(up)), up.shape)
    return {
        "mass_in_box": float(np.sum(up * region)),
        "baseline": float(region.sum() / (width * height)),
        "peak_in_box": bool(centre_in[peak_y, peak_x]),
        "peak_xy": (int(peak_x), int(peak_y)),
    }


def attention_correctness_summary(items: Iterable[tuple], *, upsample: str = "bilinear") -> dict:
    """Means over many (attention map, box, image_size) triples, e.g. every grounded word of a test set.

    Returns {"count", "mass_in_box" (mean), "baseline" (mean), "peak_in_box_rate"}; the means are
    NaN when there is nothing to average.
    """
    results = [attention_correctness(att, box, size, upsample=upsample) for att, box, size in items]
    if not results:
        return {"count": 0, "mass_in_box": float("nan"), "baseline": float("nan"), "peak_in_box_rate": float("nan")}
    return {
        "count": len(results),
        "mass_in_box": float(np.mean([r["mass_in_box"] for r in results])),
        "baseline": float(np.mean([r["baseline"] for r in results])),
        "peak_in_box_rate": float(np.mean([r["peak_in_box"] for r in results])),
    }
