"""The whole network: encoder + decoder, built from a ModelConfig. Training runs `forward` on
annotations (the encoder's output, often cached); inference runs `encode`, then a search over the decoder's steps (`decoding.search.generate`)."""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn as nn

from captioner.model.config import ModelConfig
from captioner.model.decoder import Decoder, DecoderOutput, HardSampling
from captioner.model.encoder import build_encoder


class CaptionModel(nn.Module):
    def __init__(self, config: ModelConfig, load_encoder_weights: bool = True):
        super().__init__()
        if config.vocab_size <= 0:
            raise ValueError("config.vocab_size must be set (the vocabulary's size)")
        self.encoder = build_encoder(config, load_weights=load_encoder_weights)
        # Sizes that follow from the backbone are recorded in the config saved with the model.
        self.config = dataclasses.replace(
            config, feature_dim=self.encoder.feature_dim, grid_size=tuple(self.encoder.grid_size(config.image_size))
        )
        self.decoder = Decoder(self.config)
        self._frozen_shapes = None  # see frozen_shapes

    @property
    def grid_size(self) -> tuple[int, int]:
        return self.config.grid_size

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """Normalised pixels (B, 3, S, S) -> annotations (B, L, D)."""
        return self.encoder(pixels)

    def forward(
        self, features: torch.Tensor, captions: torch.Tensor, from_frozen: bool = False, sampling: HardSampling | None = None
    ) -> DecoderOutput:
        """Teacher forcing on annotations (B, L, D) and captions (B, T+1): what training optimises.
        With `from_frozen`, `features` are the encoder's frozen part (encode_frozen) and its
        trainable blocks run first: fine-tuning. `sampling`: how hard attention samples (Decoder.forward)."""
        if from_frozen:
            features = self.annotations_from_frozen(features)
        return self.decoder(features, captions, sampling)

    # -- fine-tuning (config.finetune_blocks > 0): the frozen part's output is computed once and
    # cached, flattened to one row per image; the last blocks run on it at every step.

    def encode_frozen(self, pixels: torch.Tensor) -> torch.Tensor:
        """Normalised pixels (B, 3, S, S) -> the encoder's frozen part, flattened: (B, P)."""
        return torch.cat([t.flatten(1) for t in self.encoder.frozen_part(pixels)], dim=1)

    def annotations_from_frozen(self, frozen: torch.Tensor) -> torch.Tensor:
        """encode_frozen's output (B, P) -> annotations (B, L, D), through the trainable blocks."""
        shapes = self.frozen_shapes
        parts = frozen.split([math.prod(shape) for shape in shapes], dim=1)
        maps = [part.reshape(-1, *shape).contiguous(memory_format=torch.channels_last) for part, shape in zip(parts, shapes)]
        return self.encoder.from_frozen_part(maps)

    @property
    def frozen_shapes(self) -> list[tuple[int, ...]]:
        """(C, H, W) of each map of the frozen part, at config.image_size (found once, by a dry run)."""
        if self._frozen_shapes is None:
            device = next(self.encoder.parameters()).device
            with torch.no_grad():
                maps = self.encoder.frozen_part(torch.zeros(1, 3, self.config.image_size, self.config.image_size, device=device))
            self._frozen_shapes = [tuple(m.shape[1:]) for m in maps]
        return self._frozen_shapes

    @property
    def frozen_size(self) -> int:
        """P: the numbers per image that encode_frozen gives."""
        return sum(math.prod(shape) for shape in self.frozen_shapes)
