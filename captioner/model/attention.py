"""Attention over the annotation grid: alpha_t = softmax_i f_att(a_i, h_{t-1}).

The score function f_att is chosen by name:
- "additive"   v^T tanh(W a_i + U h)            (Bahdanau; the paper's)
- "dot"        h^T a_i                          (a_i mapped into h's space by a learned linear
                                                 map when their sizes differ; then it equals "general")
- "scaled_dot" h^T k_i / sqrt(d)                (Vaswani; k_i as for "dot")
- "general"    h^T W a_i                        (Luong)
- "cosine"     s(h) * cos(W a_i, U h), s(h) = softplus(w^T h) + 1   (Graves' content-based
                                                 addressing with its key strength)
- "location"   (W h)_i                          (Luong's location-based: ignores content)

Every image-side term (W a_i, its normalisation) depends only on the image, so `keys()` computes
it once per image; `weights()` then costs one small query projection per decoding step. (The
best-known tutorial recomputes W a_i at every step, its most expensive operation.)

The module is the paper's math as written. The CPU runtime computes the same scores in a faster
form (captioner/runtime/decoding_step.py), and training has its own backward for the additive
scores (captioner/training/fast_decoder.py); tests hold both to these formulas.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

SCORE_FUNCTIONS = ("additive", "dot", "scaled_dot", "general", "cosine", "location")


class Attention(nn.Module):
    def __init__(self, kind: str, feature_dim: int, hidden_dim: int, attention_dim: int, num_locations: int):
        super().__init__()
        if kind not in SCORE_FUNCTIONS:
            raise ValueError(f"unknown attention score function {kind!r}; choose one of {SCORE_FUNCTIONS}")
        self.kind = kind
        self.num_locations = num_locations
        if kind == "additive":
            self.key = nn.Linear(feature_dim, attention_dim)
            self.query = nn.Linear(hidden_dim, attention_dim, bias=False)
            self.score = nn.Linear(attention_dim, 1, bias=False)
        elif kind in ("dot", "scaled_dot"):
            self.key = nn.Identity() if feature_dim == hidden_dim else nn.Linear(feature_dim, hidden_dim, bias=False)
        elif kind == "general":
            self.key = nn.Linear(feature_dim, hidden_dim, bias=False)
        elif kind == "cosine":
            self.key = nn.Linear(feature_dim, attention_dim, bias=False)
            self.query = nn.Linear(hidden_dim, attention_dim, bias=False)
            self.strength = nn.Linear(hidden_dim, 1)
        else:  # location
            self.query = nn.Linear(hidden_dim, num_locations)

    def keys(self, features: torch.Tensor) -> torch.Tensor:
        """Image-side part of the score, once per image: (N, L, D) -> (N, L, K)."""
        if self.kind == "location":
            return features.new_zeros(features.shape[0], features.shape[1], 0)
        keys = self.key(features)
        if self.kind == "cosine":
            keys = F.normalize(keys, dim=-1)
        return keys

    def scores(self, keys: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Unnormalised scores e_ti: keys (n, L, K) of n images, h (N, H) -> (N, L), where N is a
        multiple of n and the N / n rows of image i follow each other (its beams, in beam search):
        the keys are shared by broadcasting, never copied per row."""
        n, L = keys.shape[:2]
        N = h.shape[0]
        if self.kind == "additive":
            q = self.query(h).view(n, N // n, 1, -1)  # an image's rows share its keys
            return self.score(torch.tanh(keys.unsqueeze(1) + q)).view(N, L)
        if self.kind == "location":
            return self.query(h)
        if self.kind == "cosine":
            q = F.normalize(self.query(h), dim=-1)
            strength = F.softplus(self.strength(h)) + 1.0  # sharpness >= 1, learned per step
            return strength * _per_row(keys, q)
        scores = _per_row(keys, h)
        return scores / math.sqrt(keys.shape[-1]) if self.kind == "scaled_dot" else scores

    def weights(self, keys: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """alpha_t: (N, L), each row sums to 1."""
        return torch.softmax(self.scores(keys, h), dim=-1)


def _per_row(keys: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """k_i . q for the keys (n, L, K) of n images and N = n * m queries (N, K), m per image -> (N, L)."""
    n, L = keys.shape[:2]
    N = q.shape[0]
    return torch.bmm(keys, q.view(n, N // n, -1).transpose(1, 2)).transpose(1, 2).reshape(N, L)
