"""Teacher forcing, faster: the decoder's `forward` (captioner/model/decoder.py) with the same
results and gradients, computed with three speed-ups that training turns on by one switch
(TrainConfig.speedups, on by default; tests/training/test_fast_decoder.py holds it equal to the
plain forward):

- the shrinking batch: captions are taken longest first, so those still running at step t are
  the first rows, and the recurrence runs only as far as each caption needs (prefix views, no
  copies). Per-step results of the rows that have ended are zeros, as the plain forward masks them;
- everything that is not sequential runs for all steps at once: the words' LSTM input
  projection before the loop, the deep output layer after it;
- the recurrence's own weights (lstm_context, lstm_hidden) get their gradient in one product
  each (deferred_grad.StepProducts), and the additive attention's scores have their own backward
  (AdditiveScores), which works in the forward pass's buffer.

The attention lab's variants run through the decoder's own parts (`start`, `attention_inputs`,
`attend`), so the speed-ups serve them too (tested with the others).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from captioner.model.decoder import Decoder, DecoderOutput, HardSampling, attention_entropy
from captioner.training.deferred_grad import StepProducts
from captioner.vocab import Vocabulary


def teacher_forcing(
    decoder: Decoder,
    features: torch.Tensor,
    captions: torch.Tensor,
    sampling: HardSampling | None = None,
    image_rows: torch.Tensor | None = None,
) -> DecoderOutput:
    """Decoder.forward(features, captions, sampling), faster (see the module's docstring). With
    `image_rows` (B,), `features` (n, L, D) are those of n distinct images and caption b is of
    image image_rows[b]: what `start` computes (the keys, h_0 and c_0, and the grid's
    self-attention) is computed once per image, not once per caption, then given to each of its
    captions' rows (the same values; the rows' gradients add up on the image's)."""
    B, T = captions.shape[0], captions.shape[1] - 1
    needed = (captions[:, 1:] != Vocabulary.pad_id).sum(dim=1)
    order = needed.argsort(descending=True, stable=True)
    reorder = not bool(torch.equal(order, torch.arange(B, device=order.device)))
    if image_rows is None and reorder:
        features = features[order]
    if reorder:
        captions, needed = captions[order], needed[order]
        image_rows = image_rows[order] if image_rows is not None else None
    running = (needed.unsqueeze(0) > torch.arange(T, device=needed.device).unsqueeze(1)).sum(dim=1).tolist()
    running = [n for n in running if n > 0] or [B] * min(T, 1)  # nothing but <pad>: one step, for the shapes
    emb = decoder.embedding(captions[:, :-1])  # (B, T, E)
    # (B, 4H) per step, all steps at once; unbound, so the backward pass gathers the steps'
    # gradients in one stack, where a slice of the whole (B, T, 4H) at each step would make a
    # zero-filled tensor of that size per step (word_gates[:n, t]).
    word_gates = decoder.lstm_word(emb).unbind(1)
    keys, (h, c) = decoder.start(features)
    features, keys = decoder.image_side(features, keys)
    if image_rows is not None:  # once per image above; from here on, one row per caption
        features, keys, h, c = features[image_rows], keys[image_rows], h[image_rows], c[image_rows]
    scores = None
    if decoder.attention.kind == "additive":
        keys, scores = 2.0 * keys, AdditiveScores.scores_for(decoder.attention)
    context, hidden = (
        StepProducts(m.weight) if torch.is_grad_enabled() and m.weight.requires_grad else m
        for m in (decoder.lstm_context, decoder.lstm_hidden)
    )
    sampling = (sampling or HardSampling()) if decoder.hard and decoder.training else None
    hs, steps = [], []
    for t, n in enumerate(running):
        if n < h.shape[0]:
            h, c, features, keys = h[:n], c[:n], features[:n], keys[:n]
        attended = decoder.attend(features, keys, h, sampling, scores=scores, **decoder.attention_inputs(emb[:n, t], h, c))
        h, c = decoder.lstm_cell(word_gates[t][:n] + context(attended.context) + hidden(h), c)
        hs.append(h)
        steps.append(attended)
    _, alphas, betas, log_probs, centres, shares, _ = zip(*steps)
    alphas_t = _steps(alphas, B, T)
    zs = _steps([a.for_output() for a in steps], B, T)
    out = DecoderOutput(logits=decoder.deep_output(emb, _steps(hs, B, T), zs), alphas=alphas_t, betas=_steps(betas, B, T))
    if sampling is not None and sampling.estimator == "reinforce":
        out.sample_log_probs = _steps(log_probs, B, T)
        out.entropies = attention_entropy(alphas_t)
    if decoder.local is not None:
        out.centres = _steps(centres, B, T)
    if decoder.sentinel is not None:
        out.sentinel_shares = _steps(shares, B, T)
    if reorder:
        back = order.argsort()
        for name in ("logits", "alphas", "betas", "sample_log_probs", "entropies", "centres", "sentinel_shares"):
            if getattr(out, name) is not None:
                setattr(out, name, getattr(out, name)[back])
    return out


class FastTraining(nn.Module):
    """CaptionModel.forward with the decoder's fast teacher forcing: what the training loop runs
    (and DistributedDataParallel wraps) when TrainConfig.speedups is on. It holds the model, so
    its parameters are the model's."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(
        self, features, captions, from_frozen: bool = False, sampling: HardSampling | None = None, image_rows: torch.Tensor | None = None
    ) -> DecoderOutput:
        """`image_rows`: see teacher_forcing (the fine-tuned blocks, too, run once per image)."""
        if from_frozen:
            features = self.model.annotations_from_frozen(features)
        return teacher_forcing(self.model.decoder, features, captions, sampling, image_rows)


class AdditiveScores(torch.autograd.Function):
    """The additive scores v^T tanh(W a_i + b + U h) in the form 2 v^T sigmoid(k_i + q) - sum(v)
    with doubled keys and queries, k = 2 (W a_i + b), q = 2 U h (tanh(u) = 2 sigmoid(2u) - 1),
    over (n, m, L, A), with a backward that works in the sigmoid's own buffer. Autograd's would
    allocate two more tensors of that size at every step (the product of the scores' gradient with
    v, and the sigmoid's gradient), and new memory that large comes as fresh pages, each faulted
    in: a step's largest cost at the small sizes (1.13-1.42x faster there with this backward,
    `python -m benchmarks.bench_train`). One backward pass: it overwrites what it saved."""

    @staticmethod
    def scores_for(attention: nn.Module):
        """The attention's `scores(keys, h)` on doubled keys, through this function."""

        def scores(keys, h):
            n, L = keys.shape[:2]
            N = h.shape[0]
            q = 2.0 * attention.query(h).view(n, N // n, 1, -1)
            return AdditiveScores.apply(keys.unsqueeze(1), q, attention.score.weight.view(-1)).view(N, L)

        return scores

    @staticmethod
    def forward(ctx, keys, q, v):
        s = torch.add(keys, q).sigmoid_()  # keys (n, 1, L, A), q (n, m, 1, A) -> (n, m, L, A)
        ctx.save_for_backward(s, v)
        return torch.matmul(s, v).mul_(2.0).sub_(v.sum())

    @staticmethod
    def backward(ctx, grad):
        s, v = ctx.saved_tensors
        dv = (grad.reshape(1, -1) @ s.reshape(-1, s.shape[-1])).view(-1).mul_(2.0).sub_(grad.sum()) if ctx.needs_input_grad[2] else None
        du = s.addcmul_(s, s, value=-1.0).mul_(grad.unsqueeze(-1)).mul_(2.0 * v)  # sigmoid' = s (1 - s), in place
        dkeys = du if du.shape[1] == 1 else du.sum(1, keepdim=True)  # the keys are shared by an image's m rows
        return dkeys, du.sum(2, keepdim=True), dv


def _steps(values: list[torch.Tensor], B: int, T: int) -> torch.Tensor:
    """Per-step values of the first rows of a batch -> (B, T, ...), zero where a row had ended."""
    rows = [F.pad(v, (0, 0) * (v.dim() - 1) + (0, B - v.shape[0])) if v.shape[0] < B else v for v in values]
    stacked = torch.stack(rows, dim=1)
    return F.pad(stacked, (0, 0) * (stacked.dim() - 2) + (0, T - stacked.shape[1])) if stacked.shape[1] < T else stacked
