"""Local attention on the grid: Luong et al. 2015's local-p, in two dimensions.

At step t the decoder predicts where to look from its state h_{t-1} (the state its attention
reads, section "attend" of captioner/model/decoder.py):

    p_t = (H, W) * sigmoid(V_p tanh(W_p h_{t-1}))           a point on the image, in cells
    G_ti = exp(-|x_i - p_t|^2 / (2 sigma^2))                 x_i = (row + 1/2, column + 1/2), cell i's centre
    alpha_t = softmax(e_t) * G_t / sum_i softmax(e_ti) G_ti  any of the six score functions' e_t

p_t = (0, 0) is the image's top-left corner and (H, W) its bottom-right one, so a centre scales
straight onto the picture. The window is the Gaussian over the whole grid (no hard cut-off at
p_t +- 2 sigma as in Luong's 1-D form: a 7x7 grid has few cells to spare), and the product is
renormalised so that each map is still a distribution over the cells (Luong leaves it unnormalised).
Renormalising softmax(e) * G is softmax(e + log G): that is how `log_window` is used.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class LocalWindow(nn.Module):
    """The predicted centre p_t and the log of its Gaussian window over the grid's cells."""

    def __init__(self, hidden_dim: int, attention_dim: int, grid_size: tuple[int, int], sigma: float):
        super().__init__()
        if not sigma > 0:
            raise ValueError(f"local_sigma must be > 0 (a width in grid cells), got {sigma!r}")
        self.sigma = float(sigma)
        self.predict = nn.Linear(hidden_dim, attention_dim, bias=False)  # W_p
        self.position = nn.Linear(attention_dim, 2, bias=False)  # V_p: a row and a column
        rows, cols = grid_size
        # Not saved with the weights: it follows from the grid's size.
        self.register_buffer("size", torch.tensor([float(rows), float(cols)]), persistent=False)
        ii, jj = torch.meshgrid(torch.arange(rows) + 0.5, torch.arange(cols) + 0.5, indexing="ij")
        self.register_buffer("cells", torch.stack([ii.reshape(-1), jj.reshape(-1)], dim=1), persistent=False)  # (L, 2)

    def centre(self, h: torch.Tensor) -> torch.Tensor:
        """p_t for N rows: (N, H) -> (N, 2) as (row, column) in cells, each in [0, grid side]."""
        return self.size * torch.sigmoid(self.position(torch.tanh(self.predict(h))))

    def log_window(self, centre: torch.Tensor) -> torch.Tensor:
        """log G_ti = -|x_i - p_t|^2 / (2 sigma^2): (N, 2) -> (N, L)."""
        distance2 = (self.cells.to(centre.dtype).unsqueeze(0) - centre.unsqueeze(1)).square().sum(-1)
        return distance2 / (-2.0 * self.sigma**2)
