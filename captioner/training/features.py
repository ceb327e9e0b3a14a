"""Encoder features computed once: with a frozen encoder the annotations of an image never change,
so they are cached in a memory-mapped .npy file that later runs reopen."""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from captioner.files import atomic_write
from captioner.images.stream import ImageStream
from captioner.model.config import ModelConfig
from captioner.model.encoder import preprocessor_for
from captioner.model.model import CaptionModel
from captioner.runtime.inference import InferenceRuntime


def extract_features(
    model: CaptionModel, images: Sequence, out_file: str | Path | None = None, batch_size: int = 32, progress: bool = False
) -> np.ndarray:
    """What training reads of each image, as float16, computed once (images read in background
    threads by the image stream that captioning reads with): the encoder's annotations (N, L, D), or, when
    the encoder is fine-tuned (finetune_blocks > 0), the output of its frozen part (N, P), on which
    the trainable blocks run at every step. With `out_file` they are written to a memory-mapped
    .npy file (completed atomically) that later runs reopen. An unreadable image raises its ImageLoadError."""
    config = model.config
    frozen = config.finetune_blocks > 0
    if frozen:
        shape = (len(images), model.frozen_size)
    else:
        shape = (len(images), config.grid_size[0] * config.grid_size[1], config.feature_dim)
    if out_file is None:
        out = np.empty(shape, dtype=np.float16)
        _fill(model, images, out, batch_size, progress, frozen)
        return out
    out_file = Path(out_file)
    if out_file.exists():
        try:
            cached = np.load(out_file, mmap_mode="r")
        except (OSError, ValueError, EOFError) as exc:  # truncated or garbled: a cache is computed again
            warnings.warn(f"{out_file}: feature cache cannot be read ({exc}); computing it again", stacklevel=2)
            cached = None
        if cached is not None and cached.shape == shape and cached.dtype == np.float16:
            return cached

    def write(path: Path) -> None:
        out = np.lib.format.open_memmap(str(path), mode="w+", dtype=np.float16, shape=shape)
        _fill(model, images, out, batch_size, progress, frozen)
        out.flush()

    atomic_write(out_file, write)
    return np.load(out_file, mmap_mode="r")


def _fill(model: CaptionModel, images: Sequence, out: np.ndarray, batch_size: int, progress: bool, frozen: bool) -> None:
    preprocessor, device = preprocessor_for(model.config), next(model.parameters()).device
    # The frozen encoder's inference path (batch norm folded, CPU chunks), as captioning runs it.
    encode = model.encode_frozen if frozen else InferenceRuntime(model).encode
    start = 0
    bar = tqdm(total=len(images), disable=not progress, desc="encoding", unit="img")
    with bar, ImageStream(preprocessor) as stream, in_eval_mode(model), torch.inference_mode():
        for loaded in stream.batches(images, batch_size):
            for item in loaded:
                if item.error is not None:
                    raise item.error
            pixels = preprocessor.batch([item.pixels for item in loaded], device)
            features = encode(pixels)
            out[start : start + len(loaded)] = features.to(torch.float16).cpu().numpy()
            start += len(loaded)
            bar.update(len(loaded))


@contextmanager
def in_eval_mode(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """The model in eval mode for the block (the encoder's batch norm on its running statistics,
    no dropout), then back in the mode it was in."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def feature_cache_name(config: ModelConfig, paths: Sequence[Path]) -> str:
    """Cache file name that changes whenever the encoder setup or the image list does."""
    key = [config.encoder, config.encoder_weights, config.image_size, list(config.feature_levels), config.finetune_blocks]
    if config.grid_level is not None:  # (keeps the names of caches made before grid_level existed)
        key.append(config.grid_level)
    key = json.dumps(key)
    digest = hashlib.sha1(key.encode() + "\n".join(map(str, paths)).encode()).hexdigest()[:16]
    return f"features-{digest}.npy"
