"""Attention correctness (Liu et al., AAAI 2017): a word's attention map is upsampled to the
image size (captioner.results.maps, as the heatmaps show it) and renormalised, and the mass inside the
referent's ground-truth box is compared with the uniform baseline (box area / image area). We also
report whether the map's peak is in the box. Where the referent also has a segmentation mask (the
scenes of photographed objects), the same three figures are reported for the mask.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from captioner.results import maps


def upsample_attention(attention: np.ndarray, image_size: tuple[int, int], mode: str = maps.DEFAULT_SMOOTH) -> np.ndarray:
    """An (H, W) grid map resized to the image's (height, width) pixels and renormalised to sum 1."""
    att = np.asarray(attention, dtype=np.float64)
    if att.ndim != 2 or att.size == 0:
        raise ValueError(f"attention map should be a 2-D (H, W) array, got shape {att.shape}")
    if not np.all(np.isfinite(att)) or np.any(att < 0) or att.sum() <= 0:
        raise ValueError("attention map should be finite and non-negative with a positive sum")
    width, height = (int(v) for v in image_size)
    if width <= 0 or height <= 0:
        raise ValueError(f"image size should be positive (W, H), got {image_size}")
    up = maps.upsample(att, (width, height), mode)
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


def decode_mask(mask: dict | np.ndarray) -> np.ndarray:
    """A boolean (H, W) mask from a COCO RLE dict ({"size": [H, W], "counts": str or bytes}, as
    pycocotools.mask.encode writes it) or from an array."""
    if isinstance(mask, dict):
        from pycocotools import mask as coco_mask

        counts = mask["counts"]
        rle = {"size": list(mask["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
        return coco_mask.decode(rle).astype(bool)
    return np.asarray(mask, dtype=bool)


def attention_correctness(
    attention: np.ndarray,
    box,
    image_size: tuple[int, int],
    *,
    upsample: str = maps.DEFAULT_SMOOTH,
    mask: dict | np.ndarray | Sequence | None = None,
) -> dict:
    """How much of one word's attention lies on its referent (Liu et al., AAAI 2017).

    attention:  (H, W) grid map (normalised here, so any non-negative map with positive mass works).
    box:        (x0, y0, x1, y1) in image pixels, half-open (x0 <= x < x1), clipped to the image;
                or a list of boxes, whose union is the region (e.g. a plural word's objects).
    image_size: (W, H) in pixels, as PIL's Image.size.
    upsample:   "bilinear" (default: the map the heatmaps show), "bicubic" or "nearest".
    mask:       optional segmentation of the referent at image size: a (H, W) array, a COCO RLE
                dict, or a list of them (their union).
    Returns {"mass_in_box": attention mass inside the region, after upsampling and renormalising;
             "baseline": region area / image area, what a uniform map scores;
             "peak_in_box": whether the upsampled map's maximum pixel has its centre in the region
                            (ties: the first maximum in row-major order);
             "peak_xy": that pixel's (x, y)}
    and, with a mask, "mass_in_mask", "mask_baseline" (mask area / image area) and "peak_in_mask".
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
    peak_x, peak_y = maps.peak(attention, (width, height), upsample)
    result = {
        "mass_in_box": float(np.sum(up * region)),
        "baseline": float(region.sum() / (width * height)),
        "peak_in_box": bool(centre_in[peak_y, peak_x]),
        "peak_xy": (peak_x, peak_y),
    }
    if mask is not None:
        masks = mask if isinstance(mask, (list, tuple)) else [mask]
        inside = np.zeros(up.shape, dtype=bool)
        for m in masks:
            decoded = decode_mask(m)
            if decoded.shape != up.shape:
                raise ValueError(f"mask is {decoded.shape[1]}x{decoded.shape[0]}, the image {width}x{height}")
            inside |= decoded
        result.update(
            mass_in_mask=float(up[inside].sum()),
            mask_baseline=float(inside.mean()),
            peak_in_mask=bool(inside[peak_y, peak_x]),
        )
    return result


def attention_correctness_summary(items: Iterable[tuple], *, upsample: str = maps.DEFAULT_SMOOTH) -> dict:
    """Means over many (attention map, box, image_size) triples, e.g. every grounded word of a test
    set; an item may carry a fourth element, the referent's mask (or None).

    Returns {"count", "mass_in_box" (mean), "baseline" (mean), "peak_in_box_rate"}; the means are
    NaN when there is nothing to average. When some items have masks, also {"mask_count",
    "mass_in_mask", "mask_baseline", "peak_in_mask_rate"} over those items.
    """
    results = [
        attention_correctness(item[0], item[1], item[2], upsample=upsample, mask=item[3] if len(item) > 3 else None) for item in items
    ]
    if not results:
        return {"count": 0, "mass_in_box": float("nan"), "baseline": float("nan"), "peak_in_box_rate": float("nan")}
    summary = {
        "count": len(results),
        "mass_in_box": float(np.mean([r["mass_in_box"] for r in results])),
        "baseline": float(np.mean([r["baseline"] for r in results])),
        "peak_in_box_rate": float(np.mean([r["peak_in_box"] for r in results])),
    }
    masked = [r for r in results if "mass_in_mask" in r]
    if masked:
        summary.update(
            mask_count=len(masked),
            mass_in_mask=float(np.mean([r["mass_in_mask"] for r in masked])),
            mask_baseline=float(np.mean([r["mask_baseline"] for r in masked])),
            peak_in_mask_rate=float(np.mean([r["peak_in_mask"] for r in masked])),
        )
    return summary
