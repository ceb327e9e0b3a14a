"""The decoding step as a search calls it: `start(features) -> (keys, state)`, then
`step(tokens, state, features, keys) -> (log-probabilities, state, alpha, beta)` at every step
(the `Stepper` of captioner/decoding/search.py).

- `ReferenceStep`: the model's own step (Decoder.step), the paper as written; any device.
- `MergedStep`: the same step built for speed from a snapshot of the decoder's weights (a copy
  made when it is made; make another after the weights change). The saved parameters stay as they
  are: they are the file format. Its transformations, each equal to the reference to float
  rounding (tests/runtime/test_decoding_step.py):
  - projections that read the same input are one matrix product:
    h -> [f_beta(h) | lstm_hidden(h)], z -> [lstm_context(z) | out_context(z)] (with
    sentinel_context "output" the LSTM's z and the output's differ: the product runs on both, and
    each keeps its half);
  - the words' LSTM input is a row lookup: lstm_word(E y) for every word y, computed once;
  - additive attention's tanh through the logistic function, tanh(u) = 2 sigmoid(2u) - 1, with
    the keys doubled once per image: v^T tanh(u) = 2 v^T sigmoid(2u) - sum(v). On the CPU torch's
    sigmoid is vectorised and its tanh is not, and the tanh over (rows, L, A) was the step's
    largest cost;
  - `int8`: the two merged products in int8 with each row on its own scale (int8_rows), CPU only:
    several times faster where reading their float weights bounds a step (one image at a time),
    at the cost of captions that can differ from the float model's.
The ONNX Runtime step (onnx_step) is the float MergedStep exported.

All three serve the attention lab's variants (local attention, the visual sentinel, self-attention
over the grid) through the decoder's own `attention_inputs`, `attend` and `start`; for them a step
returns a fifth value, a dict of per-row extras named as the search's Hypotheses fields
("centres": p_t (N, 2), "sentinel_shares": beta-hat_t (N,)), see `extras`. For a grid that
self-attends, the fast steps' `start` also gives the grid's attention maps (per image,
"grid_attention"), from the refinement it does anyway; the reference's start is the model's own.
"""

from __future__ import annotations

import copy
import dataclasses
from functools import partial

import torch
import torch.nn as nn

from captioner.model.decoder import Attended, Decoder, RefinedGrid


def extras(attended: Attended) -> dict[str, torch.Tensor]:
    """The per-row values of a lab variant a step gives the search beside alpha and beta, by the
    name of the Hypotheses field they fill (in the order of `extra_names`)."""
    values = {"centres": attended.centre, "sentinel_shares": attended.sentinel_share}
    return {name: value for name, value in values.items() if value is not None}


def extra_names(decoder: Decoder) -> list[str]:
    """The names of the extras `decoder`'s steps give, in order."""
    return [name for name, module in (("centres", decoder.local), ("sentinel_shares", decoder.sentinel)) if module is not None]


def _outputs(log_probs, state, attended: Attended) -> tuple:
    more = extras(attended)
    return (log_probs, state, attended.alpha, attended.beta) + ((more,) if more else ())


class ReferenceStep:
    """Decoder.step as a search calls it, reading the grid as `hard_context` says (a hard-attention
    model: "argmax" or "expected", DecodingOptions.hard_context; None for a soft one)."""

    def __init__(self, decoder: Decoder, hard_context: str = "expected"):
        self.decoder, self.hard_context, self.max_len = decoder, hard_context if decoder.hard else None, decoder.max_len

    def start(self, features: torch.Tensor):
        return self.decoder.start(features)

    def __call__(self, tokens, state, features, keys):
        step = self.decoder.step(tokens, state, features, keys, hard_context=self.hard_context)
        attended = Attended(None, step.alpha, step.beta, None, step.centre, step.sentinel_share)
        return _outputs(torch.log_softmax(step.logits, dim=-1), step.state, attended)


class MergedStep(nn.Module):
    """The decoding step with merged weights (see the module's docstring), from a copy of `decoder`
    as it is now. An nn.Module so that the ONNX exporter can trace it; its merged weights are plain
    tensors, which the graph holds as constants."""

    def __init__(self, decoder: Decoder, hard_context: str = "expected", int8: bool = False):
        super().__init__()
        if int8 and next(decoder.parameters()).device.type != "cpu":
            raise ValueError("int8 decoding runs on the CPU only")
        # Plain tensors even under inference_mode, so a later step with autograd on can use them.
        with torch.inference_mode(False), torch.no_grad():
            self.decoder = copy.deepcopy(decoder).eval().requires_grad_(False)
            d = self.decoder
            hidden = (
                torch.cat([d.gate.weight, d.lstm_hidden.weight]),
                torch.cat([d.gate.bias, d.gate.bias.new_zeros(d.lstm_hidden.out_features)]),
            )
            context = (
                torch.cat([d.lstm_context.weight, d.out_context.weight]),
                torch.cat([d.out_context.bias.new_zeros(d.lstm_context.out_features), d.out_context.bias]),
            )
            if int8:
                from captioner.runtime.int8_rows import RowwiseInt8Linear

                self.hidden, self.context = RowwiseInt8Linear(*hidden), RowwiseInt8Linear(*context)
            else:
                self.hidden = partial(torch.addmm, hidden[1], mat2=hidden[0].t().contiguous())
                self.context = partial(torch.addmm, context[1], mat2=context[0].t().contiguous())
            self.word_gates = d.lstm_word(d.embedding.weight)  # (V, 4H)
            self.additive = d.attention.kind == "additive"
            self.score_sum = d.attention.score.weight.sum() if self.additive else None
        self.hard_context, self.max_len = hard_context if decoder.hard else None, decoder.max_len

    def start(self, features: torch.Tensor):
        """Decoder.start with the grid self-attention's maps (for a grid that self-attends, a third
        value {"grid_attention": (n, heads, L, L)}): taken from the one refinement the steps read,
        the results' maps cost no second run of the layer."""
        keys, state, *maps = self.decoder.start(features, maps=True)
        if self.additive:
            keys = dataclasses.replace(keys, keys=2.0 * keys.keys) if isinstance(keys, RefinedGrid) else 2.0 * keys
        return (keys, state, *maps)

    def _additive_scores(self, doubled_keys, h):
        """v^T tanh(k_i + U h) = 2 v^T sigmoid(2 k_i + 2 U h) - sum(v), on keys doubled by `start`."""
        n, L = doubled_keys.shape[:2]
        N = h.shape[0]
        u = doubled_keys.unsqueeze(1) + 2.0 * self.decoder.attention.query(h).view(n, N // n, 1, -1)  # a new tensor
        return 2.0 * self.decoder.attention.score(u.sigmoid_()).view(N, L) - self.score_sum

    def forward(self, tokens, state, features, keys):
        d = self.decoder
        h, c = state
        H = h.shape[1]
        features, keys = d.image_side(features, keys)
        emb = d.embedding(tokens)
        from_h = self.hidden(h)  # [f_beta(h) | lstm_hidden(h)]
        scores = self._additive_scores if self.additive else None
        attended = d.attend(
            features, keys, h, hard_context=self.hard_context, gate=from_h[:, :1], scores=scores, **d.attention_inputs(emb, h, c)
        )
        if attended.output_context is None:
            to_lstm = to_output = self.context(attended.context)  # [lstm_context(z) | out_context(z)]
        else:  # one product for both contexts, rows stacked; the LSTM's half of the first, the output's of the second
            to_lstm, to_output = self.context(torch.cat([attended.context, attended.output_context])).chunk(2)
        h, c = d.lstm_cell(self.word_gates[tokens] + to_lstm[:, : 4 * H] + from_h[:, 1:], c)
        logits = d.out(torch.tanh(emb + d.out_hidden(h) + to_output[:, 4 * H :]))
        return _outputs(torch.log_softmax(logits, dim=-1), (h, c), attended)
