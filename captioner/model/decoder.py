"""The paper's LSTM decoder with attention (Xu et al. 2015, section 3.1.2).

At step t, from the previous word y_{t-1} and state (h_{t-1}, c_{t-1}):
    alpha_t = softmax(f_att(a, h_{t-1}))                    attention over the L locations
    beta_t  = sigmoid(f_beta(h_{t-1}))                      gate (section 4.2.1)
    z_t     = beta_t * sum_i alpha_ti a_i                   soft attention, or
    z_t     = beta_t * a_{s_t},  s_t ~ Multinoulli(alpha_t)  hard attention (argmax at inference)
    h_t, c_t = LSTM([E y_{t-1}; z_t], h_{t-1}, c_{t-1})
    p(y_t)  ∝ exp(L_o tanh(E y_{t-1} + L_h h_t + L_z z_t))  deep output (tanh as in the authors' code)
with h_0, c_0 = tanh(MLP(mean_i a_i)).

The attention lab's variants (ModelConfig; docs/attention-lab.md) change the attention and leave
the rest of the step as it is: local attention (model/local_attention: alpha_t windowed around a
predicted centre p_t), a visual sentinel (model/sentinel: the context mixed with a vector from the
LSTM's memory by its share beta-hat_t; the mixed context is the LSTM's input and feeds the deep
output, or with `sentinel_context` "output", Lu et al.'s wiring, feeds the deep output only while
the LSTM reads the image's context z_t), and self-attention over the grid (model/grid_self_attention:
the annotations refined once per image, in `start`). Off, the step is the paper's, weights and all.

`step` is that one step; teacher forcing (`forward`) and every search run it. This module is the
reference: the CPU runtime's decoding step (captioner/runtime/decoding_step.py) and training's
fast teacher forcing (captioner/training/fast_decoder.py) are transformations of it, and tests
hold them equal to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from captioner.model.attention import Attention
from captioner.model.config import ModelConfig, check_sentinel_context
from captioner.model.grid_self_attention import GridSelfAttention
from captioner.model.local_attention import LocalWindow
from captioner.model.sentinel import VisualSentinel, sentinel_share
from captioner.vocab import Vocabulary

HARD_ESTIMATORS = ("reinforce", "gumbel")


@dataclass(frozen=True)
class HardSampling:
    """How a hard-attention model reads the grid while it trains.

    expected_prob: the chance that a caption's step reads the expected context sum_i alpha_i a_i
        instead of a sampled location (authors' code: 0.5); it lowers the estimator's variance.
    estimator: "reinforce", the paper's: the sample's log-probability, which the loss weights by
        the caption's cost; or "gumbel": straight-through Gumbel-softmax, the step reads one
        sampled location and gradients flow through the relaxed sample (no REINFORCE term).
    tau: the Gumbel-softmax temperature."""

    expected_prob: float = 0.5
    estimator: str = "reinforce"
    tau: float = 1.0

    def __post_init__(self):
        if self.estimator not in HARD_ESTIMATORS:
            raise ValueError(f"hard-attention estimator must be one of {HARD_ESTIMATORS}, got {self.estimator!r}")
        if not 0.0 <= self.expected_prob <= 1.0:
            raise ValueError(f"expected-context probability must be in [0, 1], got {self.expected_prob!r}")
        if not self.tau > 0:
            raise ValueError(f"Gumbel-softmax temperature must be > 0, got {self.tau!r}")


@dataclass
class DecoderOutput:
    logits: torch.Tensor  # (B, T, V) scores for y_1..y_T
    alphas: torch.Tensor  # (B, T, L) attention weights used for each word
    betas: torch.Tensor  # (B, T) gate values
    sample_log_probs: torch.Tensor | None = None  # (B, T) log alpha of the sampled location (hard; 0 where the soft context was used)
    entropies: torch.Tensor | None = None  # (B, T) entropy of alpha_t (hard attention's bonus)
    centres: torch.Tensor | None = None  # (B, T, 2) local attention's centre p_t (row, column in cells)
    sentinel_shares: torch.Tensor | None = None  # (B, T) the visual sentinel's share beta-hat_t


@dataclass
class DecoderStep:
    """One step for N rows."""

    logits: torch.Tensor  # (N, V) scores of y_t
    state: tuple[torch.Tensor, torch.Tensor]  # (h_t, c_t)
    alpha: torch.Tensor  # (N, L)
    beta: torch.Tensor  # (N,)
    sample_log_prob: torch.Tensor | None = None  # (N,) hard attention while training: log alpha of the sampled location
    centre: torch.Tensor | None = None  # (N, 2) local attention's p_t
    sentinel_share: torch.Tensor | None = None  # (N,) beta-hat_t


class Attended(NamedTuple):
    """What `attend` gives for N rows."""

    context: torch.Tensor  # (N, D) z_t, gated: the LSTM's input
    alpha: torch.Tensor  # (N, L) over the grid's cells, each row sums to 1
    beta: torch.Tensor  # (N,) Xu's gate
    sample_log_prob: torch.Tensor | None  # hard attention while training
    centre: torch.Tensor | None = None  # (N, 2) local attention's p_t
    sentinel_share: torch.Tensor | None = None  # (N,) beta-hat_t
    output_context: torch.Tensor | None = None  # (N, D) what the deep output reads when it is not `context` (sentinel_context "output")

    def for_output(self) -> torch.Tensor:
        """The context word t's deep output reads."""
        return self.context if self.output_context is None else self.output_context


@dataclass(frozen=True)
class RefinedGrid:
    """What `start` computes once per image when the grid self-attends: the refined annotations
    (n, L, D), which the steps read instead of the encoder's, and their attention keys. Indexed
    by image like a tensor (a beam search drops the images whose beams have all ended)."""

    annotations: torch.Tensor
    keys: torch.Tensor

    def __getitem__(self, index) -> RefinedGrid:
        return RefinedGrid(self.annotations[index], self.keys[index])

    def repeat_interleave(self, repeats: int, dim: int = 0) -> RefinedGrid:
        return RefinedGrid(self.annotations.repeat_interleave(repeats, dim), self.keys.repeat_interleave(repeats, dim))


class Decoder(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        V, E, H, D = config.vocab_size, config.embed_dim, config.hidden_dim, config.feature_dim
        L = config.grid_size[0] * config.grid_size[1]
        if min(V, E, H, D, L) <= 0:
            raise ValueError(f"decoder sizes must be positive (vocab {V}, embed {E}, hidden {H}, features {D}, locations {L})")
        self.hard = config.hard_attention
        self.max_len = config.max_len  # the decoding limit when DecodingOptions.max_len is None
        self.embedding = nn.Embedding(V, E)
        self.attention = Attention(config.attention, D, H, config.attention_dim, L)
        self.init_h = nn.Linear(D, H)
        self.init_c = nn.Linear(D, H)
        self.gate = nn.Linear(H, 1)
        # LSTM on [E y; z] split by input (the same map as one linear layer on the concatenation).
        self.lstm_word = nn.Linear(E, 4 * H)
        self.lstm_context = nn.Linear(D, 4 * H, bias=False)
        self.lstm_hidden = nn.Linear(H, 4 * H, bias=False)
        self.out_hidden = nn.Linear(H, E)
        self.out_context = nn.Linear(D, E)
        self.dropout = nn.Dropout(config.dropout)
        self.out = nn.Linear(E, V)
        # The lab's variants: absent (and absent from the weights) unless their config field asks.
        self.local = LocalWindow(H, config.attention_dim, config.grid_size, config.local_sigma) if config.local_sigma is not None else None
        self.sentinel = VisualSentinel(E, H, D, config.attention == "location") if config.sentinel else None
        check_sentinel_context(config.sentinel, config.sentinel_context)
        # Lu et al.'s wiring: the sentinel-mixed context feeds the word's output only, not the LSTM.
        self.sentinel_to_output_only = config.sentinel_context == "output"
        heads = config.grid_self_attention_heads
        self.grid_attention = GridSelfAttention(D, heads, config.grid_size) if heads else None

    def lab_options(self) -> list[str]:
        """The config fields of the attention lab's variants this decoder has on (empty: the paper's)."""
        on = (("local_sigma", self.local), ("sentinel", self.sentinel), ("grid_self_attention_heads", self.grid_attention))
        return [f"model.{name}" for name, module in on if module is not None]

    def init_state(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = features.mean(dim=1)
        return torch.tanh(self.init_h(mean)), torch.tanh(self.init_c(mean))

    def start(self, features: torch.Tensor, maps: bool = False) -> tuple:
        """What decoding an image starts from: its attention keys (once per image) and (h_0, c_0).
        When the grid self-attends, the annotations are refined first, and the keys come as a
        RefinedGrid that carries them to the steps; with `maps`, the refinement's attention maps
        come too, as a third value {"grid_attention": (n, heads, L, L)} (the searches' per-image
        extras). With its maps the layer computes its softmax itself instead of in one fused call,
        so the refined grid equals the one without to float rounding."""
        if self.grid_attention is None:
            return self.attention.keys(features), self.init_state(features)
        refined, grid_maps = self.grid_attention(features, maps=True) if maps else (self.grid_attention(features), None)
        started = (RefinedGrid(refined, self.attention.keys(refined)), self.init_state(refined))
        return started if grid_maps is None else (*started, {"grid_attention": grid_maps})

    @staticmethod
    def image_side(features: torch.Tensor, keys: torch.Tensor | RefinedGrid) -> tuple[torch.Tensor, torch.Tensor]:
        """The annotations a step reads and their keys: the refined ones `start` made, if any."""
        return (keys.annotations, keys.keys) if isinstance(keys, RefinedGrid) else (features, keys)

    def grid_attention_maps(self, features: torch.Tensor) -> torch.Tensor:
        """Where each cell looks in the grid self-attention, per head: (n, L, D) -> (n, heads, L, L)."""
        if self.grid_attention is None:
            raise ValueError("this model has no self-attention over the grid (model.grid_self_attention_heads is 0)")
        return self.grid_attention(features, maps=True)[1]

    def attention_inputs(self, emb: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> dict:
        """What the lab's variants add to `attend` for N rows: local attention's centre p_t and
        the visual sentinel s_t, from the previous word's embedding and the state the step starts from."""
        return {
            "centre": self.local.centre(h) if self.local is not None else None,
            "sentinel": self.sentinel.vector(emb, h, c) if self.sentinel is not None else None,
        }

    # -- the step's parts, in the order of the equations ----------------------------------------

    def attend(
        self,
        features,
        keys,
        h,
        sampling: HardSampling | None = None,
        hard_context: str = "argmax",
        gate: torch.Tensor | None = None,
        scores: Callable | None = None,
        centre: torch.Tensor | None = None,
        sentinel: torch.Tensor | None = None,
    ) -> Attended:
        """alpha_t, beta_t and the context z_t for N rows over the features (n, L, D) of n images (N
        a multiple of n: an image's beams follow each other, sharing its features and keys).
        Local attention windows the scores around `centre` (N, 2); a visual `sentinel` (N, D)
        competes with the cells and is mixed into the context by its share (attention_inputs): the
        mixed context is z_t, or with sentinel_context "output" the deep output's context only
        (Attended.output_context; z_t stays the image's).
        A hard-attention model training (`sampling`) samples a location; decoding, it reads the
        most likely location's annotation (hard_context "argmax") or the expected one,
        sum_i alpha_i a_i ("expected"). `gate` (f_beta(h)) and `scores` (the attention's scores
        from keys and h) let a faster form of the step supply its own.
        Returns Attended: z, alpha, beta (N,), log-prob of the sample (or None), centre, sentinel share."""
        e = (scores or self.attention.scores)(keys, h)
        if centre is not None:
            e = e + self.local.log_window(centre)  # softmax(e + log G) = softmax(e) * G, renormalised
        alpha = torch.softmax(e, dim=-1)
        beta = torch.sigmoid(self.gate(h) if gate is None else gate)
        n, N = features.shape[0], h.shape[0]
        log_prob = None
        if not self.hard or (sampling is None and hard_context == "expected"):
            context = torch.bmm(alpha.view(n, N // n, -1), features).view(N, -1)
        elif sampling is None:
            loc = alpha.argmax(dim=-1)  # inference: the most likely location
            context = features[torch.arange(N, device=features.device) // (N // n), loc]
        else:
            context, log_prob = self.sample_context(features, alpha, sampling)
        if sentinel is None:
            return Attended(beta * context, alpha, beta.squeeze(1), log_prob, centre)
        share = sentinel_share(e, self.sentinel.score(self.attention, sentinel, h))
        mixed = torch.lerp(context, sentinel, share.unsqueeze(1))  # beta-hat s + (1 - beta-hat) c
        if self.sentinel_to_output_only:  # Xu's gate on both: the image's context to the LSTM, the mixed one to the output
            return Attended(beta * context, alpha, beta.squeeze(1), log_prob, centre, share, beta * mixed)
        return Attended(beta * mixed, alpha, beta.squeeze(1), log_prob, centre, share)

    @staticmethod
    def sample_context(features, alpha, sampling: HardSampling):
        """Training's hard context (see HardSampling) for N rows over their own features (N, L, D),
        and the log-probability of each row's sample (0 where the row read the expected context;
        None for the Gumbel estimator)."""
        p = sampling.expected_prob
        N = alpha.shape[0]
        if p >= 1:
            expected = torch.bmm(alpha.unsqueeze(1), features).squeeze(1)
            return expected, (torch.zeros_like(alpha[:, 0]) if sampling.estimator == "reinforce" else None)
        if sampling.estimator == "gumbel":
            # One-hot in the forward pass, the relaxed sample's gradient in the backward pass; rows
            # that read the expected context take alpha instead, so one product serves both.
            weights = F.gumbel_softmax(torch.log(alpha.clamp_min(1e-12)), tau=sampling.tau, hard=True)
            if p > 0:
                weights = torch.where(torch.rand(N, 1, device=features.device) < p, alpha, weights)
            return torch.bmm(weights.unsqueeze(1), features).squeeze(1), None
        loc = torch.multinomial(alpha, 1).squeeze(1)
        rows = torch.arange(N, device=features.device)
        context, log_prob = features[rows, loc], torch.log(alpha[rows, loc].clamp_min(1e-12))
        if p > 0:
            use_expected = torch.rand(N, 1, device=features.device) < p
            context = torch.where(use_expected, torch.bmm(alpha.unsqueeze(1), features).squeeze(1), context)
            log_prob = log_prob.masked_fill(use_expected.squeeze(1), 0.0)
        return context, log_prob

    @staticmethod
    def lstm_cell(gates, c):
        """The LSTM's update from its four gates' pre-activations (N, 4H), in the order i, f, g, o."""
        i, f, g, o = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c

    def deep_output(self, emb, h, z):
        """Scores of the next word: L_o tanh(E y_{t-1} + L_h h_t + L_z z_t), for any leading shape."""
        return self.out(self.dropout(torch.tanh(emb + self.out_hidden(h) + self.out_context(z))))

    # -- one step, and teacher forcing over a caption -------------------------------------------

    def step(self, words, state, features, keys, sampling: HardSampling | None = None, hard_context: str = "argmax") -> DecoderStep:
        """One step for N rows: the previous words (N,) and state (h, c), over the features
        (n, L, D) and keys of their n images (see `attend`)."""
        h, c = state
        features, keys = self.image_side(features, keys)
        emb = self.embedding(words)
        attended = self.attend(features, keys, h, sampling, hard_context, **self.attention_inputs(emb, h, c))
        h, c = self.lstm_cell(self.lstm_word(emb) + self.lstm_context(attended.context) + self.lstm_hidden(h), c)
        logits = self.deep_output(emb, h, attended.for_output())
        return DecoderStep(
            logits, (h, c), attended.alpha, attended.beta, attended.sample_log_prob, attended.centre, attended.sentinel_share
        )

    def forward(self, features: torch.Tensor, captions: torch.Tensor, sampling: HardSampling | None = None) -> DecoderOutput:
        """Teacher forcing. features (B, L, D); captions (B, T+1) = <start> w_1 .. w_n <end> <pad>...
        Returns scores for captions[:, 1:] (targets) given captions[:, :-1] (inputs); positions
        whose target is <pad> get zero attention, gate and sample log-probability, and scores
        that mean nothing (the loss masks them). Hard attention samples locations while the
        module is in training mode, as `sampling` says (default HardSampling())."""
        T = captions.shape[1] - 1
        sampling = (sampling or HardSampling()) if self.hard and self.training else None
        keys, state = self.start(features)
        steps = []
        for t in range(T):
            step = self.step(captions[:, t], state, features, keys, sampling)
            state = step.state
            steps.append(step)
        valid = (captions[:, 1:] != Vocabulary.pad_id).to(features.dtype)  # (B, T)
        alphas = torch.stack([s.alpha for s in steps], 1) * valid.unsqueeze(-1)
        out = DecoderOutput(
            logits=torch.stack([s.logits for s in steps], 1), alphas=alphas, betas=torch.stack([s.beta for s in steps], 1) * valid
        )
        if sampling is not None and sampling.estimator == "reinforce":
            out.sample_log_probs = torch.stack([s.sample_log_prob for s in steps], 1) * valid
            out.entropies = attention_entropy(alphas)
        if self.local is not None:
            out.centres = torch.stack([s.centre for s in steps], 1) * valid.unsqueeze(-1)
        if self.sentinel is not None:
            out.sentinel_shares = torch.stack([s.sentinel_share for s in steps], 1) * valid
        return out


def attention_entropy(alphas: torch.Tensor) -> torch.Tensor:
    """Entropy of each alpha_t (..., L) -> (...); 0 for a row of zeros (a position past the caption)."""
    return -(alphas * torch.log(alphas.clamp_min(1e-12))).sum(-1)
