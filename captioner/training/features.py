"""Encoder features computed once: with a frozen encoder the annotations of an image never change,
so they are cached in a memory-mapped .npy file that later runs reopen."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from captioner.images import load_image
from captioner.model.config import ModelConfig

def extract_features(captioner, images: Sequence, out_file: str | Path | None = None, batch_size: int = 32, progress: bool = False) -> np.ndarray:
    """Encoder annotations (N, L, D) as float16, computed once. With `out_file` they are written
    to a memory-mapped .npy file (completed atomically) that later runs reopen."""
    L = captioner.config.grid_size[0] * captioner.config.grid_size[1]
    shape = (len(images), L, captioner.config.feature_dim)
    if out_file is not None:
        out_file = Path(out_file)
        if out_file.exists():
            cached = np.load(out_file, mmap_mode="r")
            if cached.shape == shape:
                return cached
        tmp = out_file.with_suffix(".tmp.npy")
        out = np.lib.format.open_memmap(str(tmp), mode="w+", dtype=np.float16, shape=shape)
    else:
        out = np.empty(shape, dtype=np.float16)
    for start in tqdm(range(0, len(images), batch_size), disable=not progress, desc="encoding", unit="batch"):
        batch = [load_image(im) for im in images[start : start + batch_size]]
        out[start : start + len(batch)] = captioner.encode(batch).to(torch.float16).cpu().numpy()
    if out_file is not None:
        out.flush()
        del out
        os.replace(tmp, out_file)
        return np.load(out_file, mmap_mode="r")
    return out


def feature_cache_name(config: ModelConfig, paths: Sequence[Path]) -> str:
    """Cache file name that changes whenever the encoder setup or the image list does."""
    key = [config.encoder, config.encoder_weights, config.image_size, list(config.feature_levels), config.finetune_blocks]
    if config.grid_level is not None:  # (keeps the names of caches made before grid_level existed)
        key.append(config.grid_level)
    key = json.dumps(key)
    digest = hashlib.sha1(key.encode() + "\n".join(map(str, paths)).encode()).hexdigest()[:16]
    return f"features-{digest}.npy"
