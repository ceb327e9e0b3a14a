"""Adaptive attention with a visual sentinel (Lu, Xiong, Parikh and Socher, CVPR 2017, "Knowing
when to look"), on the paper's decoder.

The sentinel is what the language model already knows, read from the LSTM's memory; it competes
with the L grid cells in the attention's softmax:

    g_t      = sigmoid(W_x E y_{t-1} + W_h h_{t-1})       the sentinel gate
    s_t      = W_s (g_t * tanh(c_{t-1}))                  the sentinel, mapped into annotation space (D)
    e_ts     = f_att(s_t, h_{t-1})                        scored like a grid cell (its own linear score
                                                          of h for the location-based function)
    [alpha_t; beta-hat_t] = softmax([e_t1 .. e_tL; e_ts])
    c-hat_t  = beta-hat_t s_t + (1 - beta-hat_t) sum_i alpha_ti a_i   (alpha_t renormalised over the L cells)

Lu et al. attend with h_t after the LSTM step; Xu's decoder attends before it, with h_{t-1}, so
the sentinel here is built from the state the step starts from, (h_{t-1}, c_{t-1}). beta-hat_t is
the share of the softmax the sentinel takes, sigmoid(e_ts - logsumexp_i e_ti): near 1, word t came
from the language model rather than the image. The maps a model shows stay alpha_t over the cells
(each sums to 1); beta-hat_t comes beside them.

Where c-hat_t goes is the config's `sentinel_context` (the decoder wires it): "lstm_and_output", as
Xu's z_t (the LSTM's input and word t's deep output, through Xu's gate beta_t), or "output", Lu et
al.'s wiring: the LSTM reads the image's context beta_t sum_i alpha_ti a_i and only word t's deep
output reads beta_t c-hat_t, so what the model reads while writing a word still reaches the next
words whatever the sentinel took.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from captioner.model.attention import Attention


class VisualSentinel(nn.Module):
    def __init__(self, embed_dim: int, hidden_dim: int, feature_dim: int, location_scores: bool):
        super().__init__()
        self.gate_word = nn.Linear(embed_dim, hidden_dim)  # W_x
        self.gate_hidden = nn.Linear(hidden_dim, hidden_dim, bias=False)  # W_h
        self.project = nn.Linear(hidden_dim, feature_dim, bias=False)  # W_s
        # Location-based scores have no content to score the sentinel by: it gets its own score of h.
        self.location_score = nn.Linear(hidden_dim, 1) if location_scores else None

    def vector(self, emb: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """s_t for N rows from the previous word's embedding and the state (h, c): (N, D)."""
        return self.project(torch.sigmoid(self.gate_word(emb) + self.gate_hidden(h)) * torch.tanh(c))

    def score(self, attention: Attention, sentinel: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """e_ts: the sentinel (N, D) scored by the grid's score function: (N,)."""
        if self.location_score is not None:
            return self.location_score(h).squeeze(-1)
        return attention.scores(attention.keys(sentinel.unsqueeze(1)), h).squeeze(-1)  # each row its own one-cell "image"


def sentinel_share(cell_scores: torch.Tensor, sentinel_score: torch.Tensor) -> torch.Tensor:
    """beta-hat_t, the sentinel's entry of softmax([e_t1 .. e_tL; e_ts]): (N, L), (N,) -> (N,)."""
    return torch.sigmoid(sentinel_score - torch.logsumexp(cell_scores, dim=-1))
