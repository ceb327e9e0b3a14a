"""A recogniser of the decoder's own object names on real photographs.

The ImageNet classifier has no class for many objects the decoder knows (pliers, wrench, tape
measure, light bulb ...): ImageNet-1k lacks them. The Tux Paint stamps the decoder learned them
from are photographs of real objects, cut out. This recogniser is a linear probe (softmax
regression) on EfficientNet-Lite0's head features, the layer the ImageNet classifier reads, fitted
to single stamps filling much of the frame on varied backgrounds (scripts/fit_stamp_recogniser.py),
so that it reads an attended region of a photograph as the ImageNet classifier does. Shipped beside
the model as stamp_recogniser.safetensors.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

STAMPS_FILE = "stamp_recogniser.safetensors"


class StampRecogniser:
    """Probabilities of the decoder's object names for attention-pooled head features."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, names: list[str], head_start: int | None = None):
        if weight.ndim != 2 or weight.shape[0] != len(names) or bias.shape != (len(names),):
            raise ValueError(f"weight (names, C) and bias (names,) for {len(names)} names, got {tuple(weight.shape)}, {tuple(bias.shape)}")
        self.weight, self.bias, self.names = weight.float(), bias.float(), list(names)
        self.head_start = head_start  # the head features' first channel in the annotations; None: the last C

    @torch.inference_mode()
    def probabilities(self, features: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        """features (B, L, D) annotations; maps (B, K, L) weights over the grid: (B, K, names)."""
        start = self.head_start if self.head_start is not None else features.shape[-1] - self.weight.shape[1]
        head = features[..., start:].float()
        pooled = torch.bmm(maps.to(head), head)
        return torch.softmax(pooled @ self.weight.t() + self.bias, dim=-1)

    def save(self, path: str | Path, about: str = "") -> None:
        from safetensors.torch import save_file

        tensors = {"weight": self.weight.half().contiguous(), "bias": self.bias.contiguous()}
        save_file(tensors, str(path), metadata={"names": json.dumps(self.names), "about": about})

    @classmethod
    def load(cls, path: str | Path, head_start: int | None = None) -> StampRecogniser:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            if not {"weight", "bias"} <= set(f.keys()) or "names" not in metadata:
                raise ValueError(f"{path}: not a stamp recogniser (needs weight, bias and names)")
            weight, bias = f.get_tensor("weight"), f.get_tensor("bias")
        return cls(weight, bias, json.loads(metadata["names"]), head_start)

    @classmethod
    def for_model_dir(cls, directory: str | Path, head_start: int | None = None) -> StampRecogniser | None:
        """The model folder's recogniser, or None when it has none. Raises CheckpointError for a
        file that is a link out of the folder."""
        path = Path(directory) / STAMPS_FILE
        if not (path.is_file() or path.is_symlink()):
            return None
        from captioner.modeldir.folder_files import model_file

        return cls.load(model_file(directory, STAMPS_FILE), head_start)
