"""Training settings: TrainConfig, and reading them (with the model's) from a JSON file and overrides."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from captioner.model.config import CONFIG_FORMAT, ModelConfig
from captioner.model.decoder import HardSampling


class TrainingSettingError(ValueError):
    """A training setting that this run cannot honour (the message names it)."""


@dataclass
class TrainConfig:
    data: str = ""  # a data set path (see captioner.datasets.load_dataset)
    image_root: str | None = None
    out: str = "runs/train"
    epochs: int = 20
    batch_size: int = 64
    lr: float = 4e-4
    encoder_lr: float = 1e-4  # the encoder's trainable blocks (model.finetune_blocks > 0)
    encoder_weight_decay: float = 0.0
    grad_clip: float = 5.0
    doubly_stochastic: float = 1.0  # lambda of the attention penalty
    baseline_decay: float = 0.9  # hard attention: b <- decay * b + (1 - decay) * cost
    entropy_bonus: float = 0.002  # hard attention
    # Hard attention's estimator (captioner.model.decoder.HardSampling). Straight-through Gumbel
    # trained the shapes hard model far better here (test CIDEr-D 4.094 against REINFORCE's 2.595):
    hard_estimator: str = "reinforce"  # or "gumbel": straight-through Gumbel-softmax
    hard_expected_prob: float = 0.5  # chance a step reads the expected context, not a sample (authors' code: 0.5)
    hard_expected_per: str = "step"  # drawn for each caption at each "step", or once per "batch" (authors' code)
    hard_expected_anneal: bool = False  # lower that chance linearly to 0 over the run
    hard_samples: int = 1  # samples per caption; >= 2: a leave-one-out baseline instead of the moving average
    reinforce_scale: float = 1.0  # weight of the REINFORCE term (authors' code: 0.1)
    gumbel_tau: float = 1.0
    max_caption_len: int = 20
    min_word_freq: int = 5
    seed: int = 0
    checkpoint_every: int = 500  # steps; a checkpoint is also written at each epoch's end
    keep_checkpoints: int = 2
    val_images: int = 1000  # at most this many validation images are decoded each epoch
    patience: int = 5  # epochs without a better validation CIDEr-D before stopping
    device: str = "auto"
    encode_batch_size: int = 32
    amp: bool = True  # bfloat16 autocast on CUDA (never on the CPU)
    # Teacher forcing with training's speed-ups (captioner/training/fast_decoder.py: the same
    # results and gradients, faster); False runs the decoder's plain forward, the paper as written.
    speedups: bool = True
    # Supervised attention (Liu et al. 2017; training/attention_supervision.py): the weight of the
    # cross-entropy from each grounded word's object region to its attention map; 0 = off. Needs
    # grounded data (generated scenes: per-word grounding and object boxes or masks).
    attention_supervision: float = 0.0
    # Self-critical sequence training (Rennie et al. 2017; training/scst.py): epochs of it after
    # the cross-entropy epochs, CIDEr-D as the reward; the baseline is the greedy caption's reward
    # ("greedy") or the mean of the image's other samples ("mean"), scst_samples captions per image.
    scst_epochs: int = 0
    scst_baseline: str = "greedy"
    scst_samples: int = 5
    scst_lr: float = 5e-5  # a fresh Adam at this constant rate (Rennie et al.: 5e-5)
    cache_dir: str | None = None  # where encoder features are cached (default: <out>/cache); runs may share one
    trained_on: str = ""  # shown to users of the model; defaults to the data path

    def __post_init__(self):
        if self.hard_expected_per not in ("step", "batch"):
            raise ValueError(f"train.hard_expected_per must be 'step' or 'batch', got {self.hard_expected_per!r}")
        if not isinstance(self.hard_samples, int) or isinstance(self.hard_samples, bool) or self.hard_samples < 1:
            raise ValueError(f"train.hard_samples must be a whole number >= 1, got {self.hard_samples!r}")
        if (
            isinstance(self.attention_supervision, bool)
            or not isinstance(self.attention_supervision, (int, float))
            or not (0.0 <= self.attention_supervision < float("inf"))
        ):
            raise ValueError(f"train.attention_supervision must be a finite number >= 0 (0 = off), got {self.attention_supervision!r}")
        for name, least in (("scst_epochs", 0), ("scst_samples", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(f"train.{name} must be a whole number >= {least}, got {value!r}")
        if self.scst_baseline not in ("greedy", "mean"):
            raise ValueError(f"train.scst_baseline must be 'greedy' or 'mean', got {self.scst_baseline!r}")
        if self.scst_baseline == "mean" and self.scst_samples < 2:
            raise ValueError(f"train.scst_samples must be >= 2 for the 'mean' baseline (the other samples' mean), got {self.scst_samples}")
        if isinstance(self.scst_lr, bool) or not isinstance(self.scst_lr, (int, float)) or not 0 < self.scst_lr < float("inf"):
            raise ValueError(f"train.scst_lr must be a finite number > 0, got {self.scst_lr!r}")
        self.hard_sampling(0.0)  # checks the estimator, probability and temperature

    def hard_sampling(self, progress: float) -> HardSampling:
        """How hard attention samples at `progress` (0 to 1) through the run; with
        hard_expected_per "batch" the caller draws the batch's choice (see training.loop)."""
        p = self.hard_expected_prob * ((1.0 - progress) if self.hard_expected_anneal else 1.0)
        return HardSampling(expected_prob=p, estimator=self.hard_estimator, tau=self.gumbel_tau)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def load_configs(path: str | Path | None = None, overrides: Sequence[str] = ()) -> tuple[ModelConfig, TrainConfig]:
    """Model and training configuration from an optional JSON file ({"model": {...}, "train":
    {...}}) and `section.key=value` overrides (values parsed as JSON, else taken as strings)."""
    sections: dict[str, dict] = {"model": {}, "train": {}}
    if path is not None:
        data = json.loads(Path(path).read_text())
        for name in data:
            if name not in sections:
                raise ValueError(f"{path}: unknown section {name!r}; expected 'model' and 'train'")
            sections[name].update(data[name])
    for item in overrides:
        key, sep, raw = item.partition("=")
        section, dot, field_name = key.partition(".")
        if not sep or not dot or section not in sections:
            raise ValueError(f"override {item!r} must look like model.hidden_dim=512 or train.epochs=10")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        sections[section][field_name] = value
    unknown = sorted(set(sections["train"]) - {f.name for f in dataclasses.fields(TrainConfig)})
    if unknown:
        raise ValueError(f"unknown train settings: {unknown}")
    # The model section is a saved config.json's content (format/version optional): one parser for both.
    model = ModelConfig.from_json({"format": CONFIG_FORMAT, **sections["model"]})
    return model, TrainConfig(**sections["train"])
