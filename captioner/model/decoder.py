"""The paper's LSTM decoder with attention (Xu et al. 2015, section 3.1.2).

At step t, from the previous word y_{t-1} and state (h_{t-1}, c_{t-1}):
    alpha_t = softmax(f_att(a, h_{t-1}))                    attention over the L locations
    beta_t  = sigmoid(f_beta(h_{t-1}))                      gate (section 4.2.1)
    z_t     = beta_t * sum_i alpha_ti a_i                   soft attention, or
    z_t     = beta_t * a_{s_t},  s_t ~ Multinoulli(alpha_t)  hard attention (argmax at inference)
    h_t, c_t = LSTM([E y_{t-1}; z_t], h_{t-1}, c_{t-1})
    p(y_t)  ∝ exp(L_o tanh(E y_{t-1} + L_h h_t + L_z z_t))  deep output (tanh as in the authors' code)
with h_0, c_0 = tanh(MLP(mean_i a_i)).

Only the recurrence is sequential. Word embeddings and their LSTM input projection, the
attention keys, and the whole deep output layer are computed for all steps at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F

from captioner.model.attention import Attention
from captioner.model.config import ModelConfig
from captioner.model.deferred_grad import StepProducts
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
        # LSTM on [E y; z] split by input, so the word part can be projected for all steps at once.
        self.lstm_word = nn.Linear(E, 4 * H)
        self.lstm_context = nn.Linear(D, 4 * H, bias=False)
        self.lstm_hidden = nn.Linear(H, 4 * H, bias=False)
        self.out_hidden = nn.Linear(H, E)
        self.out_context = nn.Linear(D, E)
        self.dropout = nn.Dropout(config.dropout)
        self.out = nn.Linear(E, V)
        self.int8 = False  # decode with int8 projections (decode_int8)
        self.onnx = False  # decode with ONNX Runtime (decode_onnx)
        self._merged_cache = None  # (parameter versions, _MergedWeights) for decoding
        self._onnx_cache = None  # (parameter versions, {hard_context: OnnxStep})

    # -- pieces shared by training and decoding ---------------------------------------------

    def init_state(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = features.mean(dim=1)
        return torch.tanh(self.init_h(mean)), torch.tanh(self.init_c(mean))

    def start(self, features: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """What decoding an image starts from: its attention keys (once per image) and (h_0, c_0)."""
        return self.attention.keys(features), self.init_state(features)

    def _attend(self, features, keys, h, sampling: HardSampling | None = None, gate=None, hard_context: str = "argmax"):
        """Context z_t for one step of N rows over the features (n, L, D) of n images (N a multiple
        of n: an image's beams follow each other). `gate` is f_beta(h) when the caller has it.
        A hard-attention model training (`sampling`, one row per image) samples a location; decoding,
        it reads the most likely location's annotation (hard_context "argmax") or the expected one,
        sum_i alpha_i a_i ("expected").
        Returns z, alpha, beta, log-prob of the sample (or None)."""
        alpha = self.attention.weights(keys, h)
        beta = torch.sigmoid(self.gate(h) if gate is None else gate)
        n, N = features.shape[0], h.shape[0]
        log_prob = None
        if not self.hard or (sampling is None and hard_context == "expected"):
            context = torch.bmm(alpha.view(n, N // n, -1), features).view(N, -1)
        elif sampling is None:
            loc = alpha.argmax(dim=-1)  # inference: the most likely location
            context = features[torch.arange(N, device=features.device) // (N // n), loc]
        else:
            context, log_prob = self._sample(features, alpha, sampling)
        return beta * context, alpha, beta.squeeze(1), log_prob

    @staticmethod
    def _sample(features, alpha, sampling: HardSampling):
        """Training's hard context (see HardSampling) and the log-probability of each row's sample
        (0 where the row read the expected context; None for the Gumbel estimator)."""
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

    def _lstm(self, word_gates, z, h, c, context: Callable, hidden: Callable):
        return self._cell(word_gates + context(z) + hidden(h), c)

    @staticmethod
    def _cell(gates, c):
        i, f, g, o = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c

    def _logits(self, emb, h, z):
        return self.out(self.dropout(torch.tanh(emb + self.out_hidden(h) + self.out_context(z))))

    # -- training: teacher forcing -----------------------------------------------------------

    def forward(self, features: torch.Tensor, captions: torch.Tensor, sampling: HardSampling | None = None) -> DecoderOutput:
        """features (B, L, D); captions (B, T+1) = <start> w_1 .. w_n <end> <pad>...
        Returns scores for captions[:, 1:] (targets) given captions[:, :-1] (inputs); positions
        whose target is <pad> get zero attention and scores that mean nothing (the loss masks them).
        Hard attention samples locations while the module is in training mode, as `sampling`
        says (default HardSampling())."""
        B, T = captions.shape[0], captions.shape[1] - 1
        # The recurrence runs only as far as each caption needs: captions are taken longest first,
        # so those still running at step t are the first `running[t]` rows and the batch shrinks
        # as they end (prefix views, no copies).
        needed = (captions[:, 1:] != Vocabulary.pad_id).sum(dim=1)
        order = needed.argsort(descending=True, stable=True)
        reorder = not bool(torch.equal(order, torch.arange(B, device=order.device)))
        if reorder:
            features, captions, needed = features[order], captions[order], needed[order]
        running = (needed.unsqueeze(0) > torch.arange(T, device=needed.device).unsqueeze(1)).sum(dim=1).tolist()
        running = [n for n in running if n > 0] or [B] * min(T, 1)  # nothing but <pad>: one step, for the shapes
        inputs = captions[:, :-1]
        emb = self.embedding(inputs)  # (B, T, E)
        # (B, 4H) per step, all steps at once; unbound, so the backward pass gathers the steps'
        # gradients in one stack, where a slice of the whole (B, T, 4H) at each step would make a
        # zero-filled tensor of that size per step (word_gates[:n, t]).
        word_gates = self.lstm_word(emb).unbind(1)
        keys, (h, c) = self.start(features)  # keys once per image
        # The recurrence's own weights: with autograd on, their gradients in one product each, not one a step.
        context, hidden = (
            StepProducts(m.weight) if torch.is_grad_enabled() and m.weight.requires_grad else m
            for m in (self.lstm_context, self.lstm_hidden)
        )
        sampling = (sampling or HardSampling()) if self.hard and self.training else None
        hs, zs, alphas, betas, log_probs = [], [], [], [], []
        for t, n in enumerate(running):
            if n < h.shape[0]:
                h, c, features, keys = h[:n], c[:n], features[:n], keys[:n]
            z, alpha, beta, log_prob = self._attend(features, keys, h, sampling)
            h, c = self._lstm(word_gates[t][:n], z, h, c, context, hidden)
            hs.append(h)
            zs.append(z)
            alphas.append(alpha)
            betas.append(beta)
            log_probs.append(log_prob)
        alphas_t = _steps(alphas, B, T)
        logits = self._logits(emb, _steps(hs, B, T), _steps(zs, B, T))  # all steps at once
        out = DecoderOutput(logits=logits, alphas=alphas_t, betas=_steps(betas, B, T))
        if sampling is not None and sampling.estimator == "reinforce":
            out.sample_log_probs = _steps(log_probs, B, T)
            out.entropies = -(alphas_t * torch.log(alphas_t.clamp_min(1e-12))).sum(-1)
        if reorder:
            back = order.argsort()
            for name in ("logits", "alphas", "betas", "sample_log_probs", "entropies"):
                if getattr(out, name) is not None:
                    setattr(out, name, getattr(out, name)[back])
        return out

    # -- decoding: one step at a time -------------------------------------------------------

    def step(self, tokens, state, features, keys, hard_context: str = "argmax"):
        """One decoding step for N sequences: previous tokens (N,) and state (h, c), over the
        features (n, L, D) and keys of their n images, where N is a multiple of n and an image's
        N / n rows follow each other (its beams). Returns log-probabilities (N, V), the new state,
        alpha (N, L) and beta (N,). `hard_context`: how a hard-attention model reads the grid
        (see _attend; DecodingOptions.hard_context).

        The same math as `forward`, with fewer and larger operations: projections that read the
        same input are one matrix product, and the word's LSTM input is looked up (see `_merged`)."""
        return self.stepper(hard_context)(tokens, state, features, keys)

    def stepper(self, hard_context: str = "argmax") -> Callable:
        """`step` bound to the decoder's weights as they are now: a search takes it once and calls
        it at every step, so the check that the merged weights (or the exported graph) are current
        runs once per search, not once per step. Do not keep it across a change to the weights."""
        from captioner.runtime.onnx_step import exporting

        if self.onnx and not torch.is_grad_enabled() and not exporting():
            return _LazyOnnxStep(self, hard_context)
        return partial(self._step, self._merged(int8=self.int8 and not exporting()), hard_context)

    def _step(self, m: _MergedWeights, hard_context: str, tokens, state, features, keys):
        h, c = state
        H = h.shape[1]
        from_h = m.hidden(h)  # [f_beta(h) | lstm_hidden(h)]
        z, alpha, beta, _ = self._attend(features, keys, h, gate=from_h[:, :1], hard_context=hard_context)
        from_z = m.context(z)  # [lstm_context(z) | out_context(z)]
        h, c = self._cell(m.word_gates[tokens] + from_z[:, : 4 * H] + from_h[:, 1:], c)
        emb = self.embedding(tokens)
        logits = m.out(self.dropout(torch.tanh(emb + m.out_hidden(h) + from_z[:, 4 * H :])))
        return torch.log_softmax(logits, dim=-1), (h, c), alpha, beta

    def decode_int8(self, enabled: bool = True) -> Decoder:
        """Decode with the step's projections dynamically quantised to int8 (CPU only): several times
        faster where reading their float weights bounds a step (one image at a time), at the cost
        of captions that can differ from the float model's. Training is unaffected."""
        self.int8 = enabled
        return self

    def decode_onnx(self, enabled: bool = True) -> Decoder:
        """Run the decoding step on ONNX Runtime (CPU only; see captioner/runtime/onnx_step.py): the same
        captions as torch's to float rounding, faster one image at a time. Training is unaffected."""
        self.onnx = enabled
        return self

    def _onnx_step(self, hard_context: str, example):
        """The exported step for this way of reading the grid, exported again whenever a parameter
        has changed (as _merged is rebuilt)."""
        from captioner.runtime import onnx_step

        if self.out.weight.device.type != "cpu":
            raise ValueError("ONNX decoding runs on the CPU only")
        with onnx_step.EXPORT_LOCK:  # threads sharing the model export it once, one at a time
            version = (self.int8, *self._parameter_versions())
            if self._onnx_cache is None or self._onnx_cache[0] != version:
                self._onnx_cache = (version, {})
            steps = self._onnx_cache[1]
            if hard_context not in steps:
                steps[hard_context] = onnx_step.OnnxStep(self, hard_context, example, int8=self.int8)
            return steps[hard_context]

    def _parameter_versions(self) -> tuple:
        """What changes when a parameter is moved, loaded or updated: the key of the decoding caches."""
        return tuple((p.data_ptr(), p._version) for p in self.parameters())

    def _merged(self, int8: bool = False) -> _MergedWeights:
        """The decoding step's merged projections (`int8`: two of them quantised), rebuilt whenever a
        parameter has changed (moved, loaded, or updated by training). The saved parameters stay as
        they are: they are the file format."""
        version = (int8, *self._parameter_versions())
        if self._merged_cache is None or self._merged_cache[0] != version:
            # Plain tensors even under inference_mode, so a later step with autograd on can use them.
            with torch.inference_mode(False), torch.no_grad():
                hidden = (
                    torch.cat([self.gate.weight, self.lstm_hidden.weight]),
                    torch.cat([self.gate.bias, self.gate.bias.new_zeros(self.lstm_hidden.out_features)]),
                )
                context = (
                    torch.cat([self.lstm_context.weight, self.out_context.weight]),
                    torch.cat([self.out_context.bias.new_zeros(self.lstm_context.out_features), self.out_context.bias]),
                )
                if int8:
                    if self.out.weight.device.type != "cpu":
                        raise ValueError("int8 decoding runs on the CPU only")
                    merged = _MergedWeights(
                        _int8(*hidden), _int8(*context), self.out_hidden, self.out, word_gates=self.lstm_word(self.embedding.weight)
                    )
                else:
                    merged = _MergedWeights(
                        partial(torch.addmm, hidden[1], mat2=hidden[0].t().contiguous()),
                        partial(torch.addmm, context[1], mat2=context[0].t().contiguous()),
                        self.out_hidden,
                        self.out,
                        # lstm_word(E y) for every word y: a row lookup per step instead of a product.
                        word_gates=self.lstm_word(self.embedding.weight),
                    )
            self._merged_cache = (version, merged)
        return self._merged_cache[1]


def _int8(weight: torch.Tensor, bias: torch.Tensor) -> nn.Module:
    """x -> x @ weight.T + bias with the weight dynamically quantised to int8 and each row of x on
    its own scale, so an image's captions do not depend on the others in its batch (int8_rows)."""
    from captioner.runtime.int8_rows import RowwiseInt8Linear

    return RowwiseInt8Linear(weight, bias)


def _steps(values: list[torch.Tensor], B: int, T: int) -> torch.Tensor:
    """Per-step values of the first rows of a batch -> (B, T, ...), zero where a row had ended."""
    rows = [F.pad(v, (0, 0) * (v.dim() - 1) + (0, B - v.shape[0])) if v.shape[0] < B else v for v in values]
    stacked = torch.stack(rows, dim=1)
    return F.pad(stacked, (0, 0) * (stacked.dim() - 2) + (0, T - stacked.shape[1])) if stacked.shape[1] < T else stacked


@dataclass
class _MergedWeights:
    hidden: Callable[[torch.Tensor], torch.Tensor]  # h -> [f_beta(h) | lstm_hidden(h)]
    context: Callable[[torch.Tensor], torch.Tensor]  # z -> [lstm_context(z) | out_context(z)]
    out_hidden: Callable[[torch.Tensor], torch.Tensor]
    out: Callable[[torch.Tensor], torch.Tensor]
    word_gates: torch.Tensor  # (V, 4H)


class _LazyOnnxStep:
    """The ONNX Runtime step for one search: its graph is found (or exported) at the first call,
    which gives the example inputs the exporter needs."""

    def __init__(self, decoder: Decoder, hard_context: str):
        self.decoder, self.hard_context, self.run = decoder, hard_context, None

    def __call__(self, tokens, state, features, keys):
        if self.run is None:
            self.run = self.decoder._onnx_step(self.hard_context, (tokens, *state, features, keys))
        return self.run(tokens, state, features, keys)
