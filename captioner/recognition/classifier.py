"""The default encoder's own ImageNet classifier, applied where the caption looked.

EfficientNet-Lite0's classifier (1000 x 1280) reads the global mean of its head features. The
default model's annotations carry those head features (feature level 5, 1280 channels,
upsampled from 7x7 to the 14x14 grid), so pooling them with a word's attention map instead of the
plain mean classifies the region the model attended to for that word.
"""

from __future__ import annotations

import torch

from captioner.model.config import DEFAULT_ENCODER


class RegionClassifier:
    """ImageNet class probabilities of attention-pooled head features."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, head_start: int):
        self.weight = weight.float()  # (1000, C)
        self.bias = bias.float()
        self.head_start = head_start  # the head features' first channel in the annotations

    @classmethod
    def for_model(cls, model) -> RegionClassifier | None:
        """The classifier for a CaptionModel whose annotations end with the bundled Lite0's
        unchanged head features; None for any other model (other backbones, a fine-tuned or
        user-supplied encoder, no head level): its features are not what the classifier reads."""
        config, encoder = model.config, model.encoder
        if (
            config.encoder != DEFAULT_ENCODER
            or config.encoder_weights is not None
            or config.finetune_blocks
            or encoder.head_level is None
            or encoder.levels[-1] != encoder.head_level
        ):
            return None
        from captioner.model.encoder import bundled_lite0_state_dict

        state = bundled_lite0_state_dict()
        weight, bias = state["classifier.weight"], state["classifier.bias"]
        return cls(weight, bias, encoder.feature_dim - weight.shape[1])

    @torch.inference_mode()
    def probabilities(self, features: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        """features (B, L, D) annotations; maps (B, K, L) weights over the grid (each summing to 1):
        softmax over the 1000 classes of the head features pooled with each map, (B, K, 1000)."""
        head = features[..., self.head_start :].float()
        pooled = torch.bmm(maps.to(head), head)  # (B, K, C)
        return torch.softmax(pooled @ self.weight.t().to(head) + self.bias.to(head), dim=-1)
