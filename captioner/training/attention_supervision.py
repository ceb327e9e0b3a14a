"""Supervised attention (Liu et al., AAAI 2017, "Attention correctness in neural image captioning"):
on grounded data, a loss that pulls the attention map of each word that names an object toward
that object's region.

The target. The encoder sees the whole image squashed to a square (images.preprocess), so grid
cell (r, c) of an H_g x W_g grid covers the image's pixels [c W / W_g, (c + 1) W / W_g) x
[r H / H_g, (r + 1) H / H_g). A word's region is its object's mask where the scene has one (the
photographed objects), else its box; a plural phrase's region is the union of its objects'. The
target q over the L cells is the fraction of each cell the region covers, normalised to sum to 1.

The loss, over the N grounded words of a batch (Liu et al.'s "strong supervision"):

    L_att = (1 / N) sum_(n, t grounded) sum_i -q_ti log alpha_ti

the cross-entropy from the target to alpha_t (the distribution the word read), added to the
caption loss with the weight TrainConfig.attention_supervision. Cross-entropy rather than
-log sum_(i in region) alpha_ti, the mass in the region: the mass alone is satisfied by any map
inside the region, including one peaked on a single cell at its edge, while the cross-entropy asks
for the whole object, so the context sum_i alpha_ti a_i is the object's mean annotation, the
reading of the object the paper's soft attention makes. Its minimum over alpha is at q, and it
raises the mass in the region on the way (every term pushes mass onto cells of the region).

Which words: every token the data grounds (the shapes scenes ground the size, colour and shape
words of an object's phrase; the photographed objects every word of an object's name). Words the
caption's truncation (train.max_caption_len) drops are not supervised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from captioner.evaluation.attention_metrics import decode_mask


def cell_overlaps(pixels: int, cells: int) -> np.ndarray:
    """(cells, pixels): how much of pixel p, the interval [p, p + 1), lies in cell k, the interval
    [k pixels / cells, (k + 1) pixels / cells) of one image axis."""
    edges = np.arange(cells + 1, dtype=np.float64) * pixels / cells
    p = np.arange(pixels, dtype=np.float64)
    return np.clip(np.minimum(p[None] + 1, edges[1:, None]) - np.maximum(p[None], edges[:-1, None]), 0.0, 1.0)


def region_pixels(boxes: Sequence, image_size: tuple[int, int], masks: Sequence | None = None) -> np.ndarray:
    """(H, W) float coverage of each pixel by the region: the union of the masks when given, else of
    the boxes ((x0, y0, x1, y1), half-open, fractional edges counted by the part they cover)."""
    width, height = image_size
    if masks:
        region = np.zeros((height, width), dtype=bool)
        for mask in masks:
            decoded = decode_mask(mask)
            if decoded.shape != region.shape:
                raise ValueError(f"mask is {decoded.shape[1]}x{decoded.shape[0]}, the image {width}x{height}")
            region |= decoded
        return region.astype(np.float64)
    rows, cols = np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64)
    region = np.zeros((height, width))
    for x0, y0, x1, y1 in boxes:
        in_y = np.clip(np.minimum(y1, rows + 1) - np.maximum(y0, rows), 0.0, 1.0)
        in_x = np.clip(np.minimum(x1, cols + 1) - np.maximum(x0, cols), 0.0, 1.0)
        region = np.maximum(region, np.outer(in_y, in_x))
    return region


def region_target(boxes: Sequence, image_size: tuple[int, int], grid_size: tuple[int, int], masks: Sequence | None = None) -> np.ndarray:
    """The target distribution q (L,) over the grid's cells, row by row: the fraction of each cell
    that the region covers, normalised (see the module's docstring)."""
    width, height = image_size
    grid_h, grid_w = grid_size
    pixels = region_pixels(boxes, image_size, masks)
    covered = cell_overlaps(height, grid_h) @ pixels @ cell_overlaps(width, grid_w).T  # (H_g, W_g) pixel area in each cell
    total = covered.sum()
    if total <= 0:
        raise ValueError(f"region {list(boxes)!r} does not overlap the {width}x{height} image")
    return (covered / total).reshape(-1).astype(np.float32)


@dataclass
class AttentionTargets:
    """What supervises the attention of the training pairs (image, caption): the distinct target
    distributions (R, L), and for each pair the (word position, target row) of its grounded words.
    Position t is the caption's t-th word, whose map is DecoderOutput.alphas[:, t]."""

    targets: np.ndarray
    words: list[list[tuple[int, int]]]

    @property
    def grounded_words(self) -> int:
        return sum(len(w) for w in self.words)

    def batch(self, pairs: Sequence[int], repeats: int = 1, device: torch.device | str = "cpu") -> tuple[torch.Tensor, ...]:
        """(rows, positions, targets (K, L)) of the grounded words of a batch of pairs (indices into
        the pairs), each row repeated `repeats` times in a row as the batch is (hard_samples)."""
        found = [(b * repeats + r, t, k) for b, pair in enumerate(pairs) for t, k in self.words[pair] for r in range(repeats)]
        rows, positions, keys = (list(v) for v in zip(*found)) if found else ([], [], [])
        return (
            torch.tensor(rows, dtype=torch.long, device=device),
            torch.tensor(positions, dtype=torch.long, device=device),
            torch.from_numpy(self.targets[keys] if keys else np.zeros((0, self.targets.shape[1]), np.float32)).to(device),
        )


def require_grounding(records: Sequence, source) -> None:
    """DatasetError, in one line, unless some training record has per-word grounding and objects."""
    from captioner.data.datasets import DatasetError

    if not any(r.groundings and r.objects for r in records):
        raise DatasetError(
            f"{source}: train.attention_supervision needs grounded training data (per-word grounding and object boxes, "
            f"as `captioner synth` and `captioner objects` write), and this data set has none"
        )


def attention_targets(
    records: Sequence, image_sizes: Sequence[tuple[int, int]], grid_size: tuple[int, int], max_caption_len: int | None = None
) -> AttentionTargets:
    """Targets for the pairs (record, caption) in the order training makes them (each record's
    captions in turn), from the records' per-word grounding and their objects' boxes and masks."""
    grid_h, grid_w = grid_size
    targets: list[np.ndarray] = []
    words: list[list[tuple[int, int]]] = []
    for record, size in zip(records, image_sizes):
        regions: dict[tuple[int, ...], int] = {}  # an image's distinct referents, computed once
        for k in range(len(record.captions)):
            grounding = record.groundings[k] if record.groundings and record.groundings[k] is not None else []
            found = []
            for t, entry in enumerate(grounding[:max_caption_len]):
                if entry is None or entry == []:
                    continue
                referents = tuple(sorted(entry if isinstance(entry, list) else [entry]))
                if referents not in regions:
                    objects = [record.objects[i] for i in referents]
                    masks = [obj["mask"] for obj in objects if "mask" in obj]
                    boxes = [obj["box"] for obj in objects]
                    regions[referents] = len(targets)
                    targets.append(region_target(boxes, size, grid_size, masks if len(masks) == len(objects) else None))
                found.append((t, regions[referents]))
            words.append(found)
    stacked = np.stack(targets) if targets else np.zeros((0, grid_h * grid_w), np.float32)
    return AttentionTargets(stacked, words)


def attention_supervision_loss(alphas: torch.Tensor, rows: torch.Tensor, positions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy -sum_i q_i log alpha_i over the grounded words: alphas (B, T, L) from
    teacher forcing, the words' batch rows and positions (K,) and their targets (K, L). Zero (with
    a gradient of zeros) for a batch without grounded words."""
    if rows.numel() == 0:
        return alphas.sum() * 0.0
    read = alphas[rows, positions].float()
    return -(targets * torch.log(read.clamp_min(1e-12))).sum(-1).mean()
