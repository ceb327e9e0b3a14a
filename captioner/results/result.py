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

    def to_json(self, include_attention: bool = False) -> dict:
        """{"caption", "words", "score", "betas", "finished"}, "objects" (where each object word's name came
        from) and "decoder_caption" when the model names objects, "alternatives" when there are any, and
        with `include_attention` "grid" ([H, W]) and "attention" (one H x W map a word). Maps are
        written as the float32 values' exact decimals, so reading them back gives the same arrays."""
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
        if include_attention:
            data["grid"] = list(self.attention.shape[1:])
            # A broken model's NaN maps become zeros: NaN is not JSON.
            data["attention"] = np.nan_to_num(np.asarray(self.attention, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0).tolist()
        return data


def _number(value: float, digits: int) -> float | None:
    """`value` rounded, or None (JSON null) if it is NaN or infinite: NaN is not JSON, and strict
    parsers reject the line that holds it."""
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None
