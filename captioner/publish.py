"""Publishing a trained model: copy it to a model directory, in half precision when that leaves
its captions unchanged (checked on images the caller names), else in full precision."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch

from captioner.decoding.options import DecodingOptions
from captioner.files import replace_directory
from captioner.modeldir.checkpoint import CONFIG_FILE, FINGERPRINTED_FILES, CheckpointError
from captioner.pipeline import Captioner


def export_model(
    source: str | Path,
    target: str | Path,
    check_images: Sequence = (),
    options: DecodingOptions = DecodingOptions(),
    half: bool = True,
    allowed_changes: int = 0,
) -> dict:
    """Save the model in `source` to `target`. With `half`, store float16 weights if at most
    `allowed_changes` captions of `check_images` differ from the float32 model's (the report lists
    them); otherwise store float32.

    The new model is written and checked in a folder beside `target` and then put in its place in one
    step (files.replace_directory): a model already at `target` stays whole until the new one is."""
    target = Path(target)
    if target.exists() and not (target / CONFIG_FILE).is_file() and (not target.is_dir() or any(target.iterdir())):
        raise CheckpointError(f"{target}: exists and is not a model directory; export replaces it whole, so choose another --out")
    model = Captioner.from_pretrained(source, device="cpu")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.export-", dir=target.parent))
    try:
        os.chmod(staging, 0o755)  # mkdtemp's 0700 would hide the published model from other users
        report = _export(model, staging, check_images, options, half, allowed_changes)
        _keep_other_files(target, staging)
        replace_directory(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report.update(source=str(source), target=str(target))
    return report


def _keep_other_files(old: Path, new: Path) -> None:
    """Copy what a model folder being replaced holds besides the saved model (its card, objects.json,
    evaluation reports) into the new one, as export used to leave them in place."""
    if not old.is_dir():
        return
    for item in old.iterdir():
        if item.name in (CONFIG_FILE, *FINGERPRINTED_FILES) or (new / item.name).exists():
            continue
        if item.is_dir() and not item.is_symlink():
            shutil.copytree(item, new / item.name, symlinks=True)
        else:
            shutil.copy2(item, new / item.name, follow_symlinks=False)


def _export(model: Captioner, target: Path, check_images: Sequence, options: DecodingOptions, half: bool, allowed_changes: int) -> dict:
    report = {"source": None, "target": None, "dtype": "float32", "checked_images": len(check_images)}
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
