"""Self-attention over the annotation grid before decoding: one Transformer encoder layer
(Vaswani et al. 2017; on a CNN's grid, a non-local block, Wang et al. 2018) refines each
annotation by attending to the others, once per image.

    P          2-D sinusoidal positions: the first D/2 channels encode the cell's row, the other D/2 its column,
               each as Vaswani's PE(pos, 2k) = sin(pos / 10000^(2k/d)), PE(pos, 2k+1) = cos(pos / 10000^(2k/d)), d = D/2
    A          = MultiHead(Q = a + P, K = a + P, V = a)    heads of D / heads channels each
    a'         = LayerNorm(a + A)
    a''        = LayerNorm(a' + W_2 relu(W_1 a'))        the refined annotations the decoder reads

Positions are added to the queries and keys only (as DETR does for its grid), so the values,
and the residual path, stay the annotations themselves. The layer has no dropout: teacher forcing
and step-by-step decoding see the same annotations in training mode too.
"""

from __future__ import annotations

import torch
import torch.nn as nn

FEED_FORWARD_FACTOR = 2  # W_1: D -> 2D (Vaswani's 4x is large at D = 432 for a decoder of this size)


def positional_encoding(rows: int, cols: int, dim: int) -> torch.Tensor:
    """2-D sinusoidal positional encodings (rows * cols, dim): rows first (row-major cells, as the grid's L)."""
    if dim % 4:
        raise ValueError(f"2-D positional encodings need a feature size divisible by 4, got {dim}")
    half = dim // 2
    rate = 10000.0 ** (-torch.arange(0, half, 2, dtype=torch.float64) / half)  # (half / 2,)

    def encode(positions: torch.Tensor) -> torch.Tensor:  # (n,) -> (n, half), sin and cos interleaved
        angles = positions.to(torch.float64).unsqueeze(1) * rate
        return torch.stack([angles.sin(), angles.cos()], dim=-1).reshape(len(positions), half)

    row, col = encode(torch.arange(rows)), encode(torch.arange(cols))
    return torch.cat([row.repeat_interleave(cols, 0), col.repeat(rows, 1)], dim=1).float()


class GridSelfAttention(nn.Module):
    def __init__(self, feature_dim: int, heads: int, grid_size: tuple[int, int]):
        super().__init__()
        if heads < 1 or feature_dim % heads or feature_dim % 4:
            raise ValueError(
                f"grid_self_attention_heads must divide the feature size {feature_dim} (itself a multiple of 4, for the 2-D positions), got {heads}"
            )
        self.heads = heads
        self.attention = nn.MultiheadAttention(feature_dim, heads, batch_first=True)
        self.norm_attended = nn.LayerNorm(feature_dim)
        self.feed_forward = nn.Sequential(
            nn.Linear(feature_dim, FEED_FORWARD_FACTOR * feature_dim), nn.ReLU(), nn.Linear(FEED_FORWARD_FACTOR * feature_dim, feature_dim)
        )
        self.norm_out = nn.LayerNorm(feature_dim)
        # Not saved with the weights: it follows from the grid's size.
        self.register_buffer("positions", positional_encoding(*grid_size, feature_dim), persistent=False)

    def forward(self, features: torch.Tensor, maps: bool = False):
        """Annotations (n, L, D) -> refined annotations (n, L, D); with `maps`, also each head's
        attention (n, heads, L, L): row i is where cell i looked (a "click a cell" view)."""
        query = features + self.positions.to(features.dtype)
        attended, weights = self.attention(query, query, features, need_weights=maps, average_attn_weights=False)
        refined = self.norm_attended(features + attended)
        refined = self.norm_out(refined + self.feed_forward(refined))
        return (refined, weights) if maps else refined
