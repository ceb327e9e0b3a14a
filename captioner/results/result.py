"""What captioning one image gives: `CaptionResult`, and its one JSON form.

`CaptionResult.to_json` is the only place a caption becomes JSON: the records of
`captioner caption`, the `<name>.json` of `captioner inspect` and the web app's download all use
it (docs/cli.md lists the fields).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class CaptionResult:
    text: str
    words: list[str]
    attention: np.ndarray  # float32 (len(words), H, W); each map sums to 1
    score: float  # length-normalised log-probability
    betas: np.ndarray  # float32 (len(words),): the gate value beta_t for each word
    finished: bool = True  # False if the caption hit max_len before <end>
    alternatives: list[tuple[str, float]] = field(default_factory=list)  # n-best (text, score), best first
    # Where each object word's name came from (captioner.recognition.naming.ObjectWord: source
    # decoder/classifier/stamps/detector, label, probability, box), when the model names objects.
    objects: list = field(default_factory=list)
    decoder_text: str | None = None  # the decoder's own caption, when object words were renamed
    # The attention lab's variants (docs/attention-lab.md); None for a model without them.
    centres: np.ndarray | None = None  # float32 (len(words), 2): local attention's centre p_t, (row, column) in grid cells
    sentinel_shares: np.ndarray | None = None  # float32 (len(words),): the visual sentinel's share beta-hat_t
    # float32 (heads, H*W, H*W): the grid self-attention, row i where cell i (row-major) looked, per head
    grid_attention: np.ndarray | None = None

    def cell_attention(self, row: int, column: int) -> np.ndarray:
        """Where grid cell (`row`, `column`) looked in the self-attention over the grid: (heads, H, W),
        each map summing to 1. ValueError for a model without it or a cell outside the grid."""
        if self.grid_attention is None:
            raise ValueError("this caption's model has no self-attention over the grid (model.grid_self_attention_heads is 0)")
        H, W = self.attention.shape[1:]
        if not (0 <= row < H and 0 <= column < W):
            raise ValueError(f"cell ({row}, {column}) is outside the {H}x{W} grid")
        return self.grid_attention[:, row * W + column].reshape(-1, H, W)

    def to_json(self, include_attention: bool = False) -> dict:
        """{"caption", "words", "score", "betas", "finished"}, "objects" (where each object word's name came
        from) and "decoder_caption" when the model names objects, "alternatives" when there are any,
        the attention lab's "centres" ([row, column] in grid cells a word, with "grid") and
        "sentinel_shares" (one a word) for models that have them, and with `include_attention` "grid"
        ([H, W]), "attention" (one H x W map a word) and, for a grid self-attention model,
        "grid_attention" (heads x H*W x H*W: row i where cell i looked). Maps are written as the
        float32 values' exact decimals, so reading them back gives the same arrays."""
        data = {
            "caption": self.text,
            "words": list(self.words),
            "score": _number(self.score, 6),
            "betas": [_number(b, 4) for b in self.betas],
            "finished": bool(self.finished),
        }
        if self.objects:
            data["objects"] = [o.to_json() for o in self.objects]
            data["decoder_caption"] = self.decoder_text
        if self.alternatives:
            data["alternatives"] = [{"caption": t, "score": _number(s, 6)} for t, s in self.alternatives]
        if self.centres is not None:
            data["grid"] = list(self.attention.shape[1:])  # what the centres are measured on
            data["centres"] = [[_number(r, 4), _number(c, 4)] for r, c in self.centres]
        if self.sentinel_shares is not None:
            data["sentinel_shares"] = [_number(s, 4) for s in self.sentinel_shares]
        if include_attention:
            data["grid"] = list(self.attention.shape[1:])
            data["attention"] = _maps(self.attention)
            if self.grid_attention is not None:
                data["grid_attention"] = _maps(self.grid_attention)
        return data


def _maps(maps: np.ndarray) -> list:
    """Maps as nested lists of float32 values; a broken model's NaN maps become zeros: NaN is not JSON."""
    return np.nan_to_num(np.asarray(maps, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0).tolist()


def _number(value: float, digits: int) -> float | None:
    """`value` rounded, or None (JSON null) if it is NaN or infinite: NaN is not JSON, and strict
    parsers reject the line that holds it."""
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None
