"""Publishing a trained model: copy it to a model directory, in half precision when that leaves
its captions unchanged (checked on images the caller names), else in full precision."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from captioner.decoding.options import DecodingOptions
from captioner.pipeline import Captioner


def export_model(source: str | Path, target: str | Path, check_images: Sequence = (), options: DecodingOptions = DecodingOptions(),
                 half: bool = True, allowed_changes: int = 0) -> dict:
    """Save the model in `source` to `target`. With `half`, store float16 weights if at most
    `allowed_changes` captions of `check_images` differ from the float32 model's (the report lists
    them); otherwise store float32."""
    model = Captioner.from_pretrained(source, device="cpu")
    report = {"source": str(source), "target": str(target), "dtype": "float32", "checked_images": len(check_images)}
    if half:
        model.save_pretrained(target, dtype=torch.float16)
        if check_images:
            reference = [r.text for r in model.caption(list(check_images), options)]
            halved = [r.text for r in Captioner.from_pretrained(target, device="cpu").caption(list(check_images), options)]
            changed = [(str(im), a, b) for im, a, b in zip(check_images, reference, halved) if a != b]
            report["changed_captions"] = len(changed)
            report["changes"] = [{"image": im, "float32": a, "float16": b} for im, a, b in changed]
            if len(changed) <= allowed_changes:
                report["dtype"] = "float16"
        else:
            report["dtype"] = "float16"
    if report["dtype"] == "float32":
        model.save_pretrained(target)
    report["bytes"] = sum(p.stat().st_size for p in Path(target).iterdir())
    return report
