"""The whole network: encoder + decoder, built from a ModelConfig. Training runs `forward` on
annotations (the encoder's output, often cached); inference runs `encode`, then `generate`."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn as nn

from captioner.model.beam_search import DecodingOptions, Hypotheses, beam_search, greedy_decode
from captioner.model.config import ModelConfig
from captioner.model.decoder import Decoder, DecoderOutput
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

    def forward(self, features: torch.Tensor, captions: torch.Tensor) -> DecoderOutput:
        """Teacher forcing on annotations (B, L, D) and captions (B, T+1): what training optimises."""
        return self.decoder(features, captions)

    @torch.no_grad()
    def generate(self, features: torch.Tensor, options: DecodingOptions = DecodingOptions()) -> Hypotheses:
        """Captions for annotations (B, L, D): greedy decoding or batched beam search."""
        search = greedy_decode if options.greedy else beam_search
        return search(self.decoder, features, options)
