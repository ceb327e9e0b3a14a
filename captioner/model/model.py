"""The whole network: encoder + decoder, built from a ModelConfig."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn as nn

from captioner.model.config import ModelConfig
from captioner.model.decoder import Decoder
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

    @property
    def grid_size(self) -> tuple[int, int]:
        return self.config.grid_size

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """Normalised pixels (B, 3, S, S) -> annotations (B, L, D)."""
        return self.encoder(pixels)

    def forward(self, pixels: torch.Tensor, captions: torch.Tensor):
        return self.decoder(self.encode(pixels), captions)

    def encoder_is_trainable(self) -> bool:
        return any(p.requires_grad for p in self.encoder.parameters())
