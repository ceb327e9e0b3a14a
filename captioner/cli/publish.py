"""Publishing a trained model: copy it to a model directory, in half precision when that leaves
its captions unchanged (checked on images the caller names), else in full precision."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from captioner.model.beam_search import DecodingOptions
from captioner.pipeline import Captioner


def export_model(source: str | Path, target: str | Path, check_images: Sequence = (), options: DecodingOptions = DecodingOptions(),
                 half: bool = True) -> dict:
    """Save the model in `source` to `target`. With `half`, store float16 weights if the captions
    of `check_images` are identical to the float32 model's; otherwise store float32."""
    model = Captioner.from_pretrained(source, device="cpu")
    report = {"source": str(source), "target": str(target), "dtype": "float32", "checked_images": len(check_images)}
    if half:
        model.save_pretrained(target, dtype=torch.float16)
        if check_images:
            reference = [r.text for r in model.caption(list(check_images), options)]
            halved = [r.text for r in Captioner.from_pretrained(target, device="cpu").caption(list(check_images), options)]
            report["changed_captions"] = sum(a != b for a, b in zip(reference, halved))
            if report["changed_captions"] == 0:
                report["dtype"] = "float16"
        else:
            report["dtype"] = "float16"
    if report["dtype"] == "float32":
        model.save_pretrained(target)
    report["bytes"] = sum(p.stat().st_size for p in Path(target).iterdir())
    return report
