"""Greedy decoding and beam search, batched across images.

Beam search keeps, for every image, K hypotheses in one (B*K) batch, so a step is one decoder
call for the whole batch. A hypothesis that emits <end> stays in its beam with a frozen score and
competes with the longer ones on its length-normalised score (sum of log-probs / length^alpha),
so search stops when every beam of every image has ended or at `max_len`, and always returns
a result: an image whose beams never ended gets its best unfinished hypothesis.
Back-pointers are kept per step and followed once at the end (no per-step copying of histories).
An image leaves the batch as soon as all its beams have ended, so a batch costs what its
captions need, not what its longest caption needs for every image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from captioner.model.decoder import Decoder
from captioner.vocab import Vocabulary


@dataclass
class Hypotheses:
    """Decoded captions for B images, n best each, best first."""

    tokens: torch.Tensor  # (B, n, T) token ids; after a hypothesis ends, filled with <end>
    lengths: torch.Tensor  # (B, n) words before <end>
    scores: torch.Tensor  # (B, n) length-normalised log-probability
    alphas: torch.Tensor  # (B, n, T, L) attention for each emitted token
    betas: torch.Tensor  # (B, n, T)
    finished: torch.Tensor  # (B, n) True if the hypothesis emitted <end> within max_len


def _masked(log_probs: torch.Tensor) -> torch.Tensor:
    # <pad> and <start> are never valid outputs.
    log_probs = log_probs.clone()
    log_probs[:, [Vocabulary.pad_id, Vocabulary.start_id]] = float("-inf")
    return log_probs


def _normalised(sum_log_probs: torch.Tensor, lengths: torch.Tensor, length_penalty: float) -> torch.Tensor:
    return sum_log_probs / lengths.clamp_min(1).to(sum_log_probs.dtype) ** length_penalty


@torch.no_grad()
def greedy_decode(decoder: Decoder, features: torch.Tensor, max_len: int = 20, length_penalty: float = 1.0) -> Hypotheses:
    """The most likely word at every step, for a batch of images (B, L, D)."""
    B, device = features.shape[0], features.device
    keys = decoder.attention.keys(features)
    state = decoder.init_state(features)
    tokens = torch.full((B,), Vocabulary.start_id, dtype=torch.long, device=device)
    finished = torch.zeros(B, dtype=torch.bool, device=device)
    sum_lp = torch.zeros(B, device=device)
    lengths = torch.zeros(B, dtype=torch.long, device=device)  # tokens emitted incl. <end>
    out_tokens, out_alphas, out_betas = [], [], []
    for _ in range(max_len):
        log_probs, state, alpha, beta = decoder.step(tokens, state, features, keys)
        log_probs = _masked(log_probs)
        best_lp, tokens = log_probs.max(dim=-1)
        tokens = tokens.masked_fill(finished, Vocabulary.end_id)
        sum_lp = sum_lp + best_lp.masked_fill(finished, 0.0)
        lengths = lengths + (~finished).long()
        finished = finished | (tokens == Vocabulary.end_id)
        out_tokens.append(tokens)
        out_alphas.append(alpha)
        out_betas.append(beta)
        if bool(finished.all()):
            break
    toks = torch.stack(out_tokens, 1)
    n_words = lengths - finished.long()
    return Hypotheses(
        tokens=toks[:, None],
        lengths=n_words[:, None],
        scores=_normalised(sum_lp, lengths, length_penalty)[:, None],
        alphas=torch.stack(out_alphas, 1)[:, None],
        betas=torch.stack(out_betas, 1)[:, None],
        finished=finished[:, None],
    )


@torch.no_grad()
def beam_search(
    decoder: Decoder,
    features: torch.Tensor,
    beam_size: int = 3,
    max_len: int = 20,
    length_penalty: float = 1.0,
    n_best: int = 1,
) -> Hypotheses:
    """Beam search for a batch of images (B, L, D); returns the n_best hypotheses per image."""
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    if not 1 <= n_best <= beam_size:
        raise ValueError(f"n_best must be between 1 and beam_size ({beam_size}), got {n_best}")
    B, L, _ = features.shape
    K, device = beam_size, features.device
    keys = decoder.attention.keys(features).repeat_interleave(K, dim=0)
    h, c = decoder.init_state(features)
    state = (h.repeat_interleave(K, dim=0), c.repeat_interleave(K, dim=0))
    feats = features.repeat_interleave(K, dim=0)

    tokens = torch.full((B * K,), Vocabulary.start_id, dtype=torch.long, device=device)
    sum_lp = torch.zeros(B, K, device=device)
    sum_lp[:, 1:] = float("-inf")  # all beams start identical: expand only the first
    lengths = torch.zeros(B, K, dtype=torch.long, device=device)
    finished = torch.zeros(B, K, dtype=torch.bool, device=device)
    # Images whose beams have all ended leave the batch: `active` lists the images still searching,
    # and feats/keys/state/tokens hold only their rows.
    active = torch.arange(B, device=device)
    stay = torch.arange(K, device=device).expand(B, K)  # back-pointer of an image that has ended
    frozen = None
    steps_tokens, steps_parent, steps_alpha, steps_beta = [], [], [], []

    for _ in range(max_len):
        A = active.numel()
        log_probs, state, alpha, beta = decoder.step(tokens, state, feats, keys)
        V = log_probs.shape[-1]
        log_probs = _masked(log_probs).view(A, K, V)
        if frozen is None:
            # An ended hypothesis can only "emit" <end> again, at no cost: its score stays fixed.
            frozen = torch.full((V,), float("-inf"), device=device)
            frozen[Vocabulary.end_id] = 0.0
        done = finished[active]
        log_probs = torch.where(done.unsqueeze(-1), frozen, log_probs)
        cand_lp = sum_lp[active].unsqueeze(-1) + log_probs  # (A, K, V)
        cand_len = lengths[active] + (~done).long()  # (A, K)
        cand_score = _normalised(cand_lp, cand_len.unsqueeze(-1), length_penalty)
        _, top = cand_score.view(A, K * V).topk(K, dim=1)  # (A, K)
        parent, word = top // V, top % V
        sum_lp[active] = cand_lp.view(A, K * V).gather(1, top)
        lengths[active] = cand_len.gather(1, parent)
        done = done.gather(1, parent) | (word == Vocabulary.end_id)
        finished[active] = done
        rows = (torch.arange(A, device=device).unsqueeze(1) * K + parent).view(-1)
        state = (state[0][rows], state[1][rows])
        tokens = word.view(-1)
        # This step's records for all B images (ended images: <end>, same beam, no attention).
        step_word = torch.full((B, K), Vocabulary.end_id, dtype=torch.long, device=device)
        step_parent = stay.clone()
        step_alpha = torch.zeros(B, K, L, device=device)
        step_beta = torch.zeros(B, K, device=device)
        step_word[active], step_parent[active] = word, parent
        step_alpha[active], step_beta[active] = alpha.view(A, K, L), beta.view(A, K)
        steps_tokens.append(step_word)
        steps_parent.append(step_parent)
        steps_alpha.append(step_alpha)
        steps_beta.append(step_beta)
        searching = ~done.all(dim=1)
        if not bool(searching.any()):
            break
        if not bool(searching.all()):
            keep = searching.repeat_interleave(K)
            feats, keys, tokens = feats[keep], keys[keep], tokens[keep]
            state = (state[0][keep], state[1][keep])
            active = active[searching]

    # Rank the final beams and follow back-pointers from each kept beam to the first step.
    scores = _normalised(sum_lp, lengths, length_penalty)
    order = scores.argsort(dim=1, descending=True)[:, :n_best]  # (B, n)
    T = len(steps_tokens)
    out_tokens = torch.empty(B, n_best, T, dtype=torch.long, device=device)
    out_alpha = torch.empty(B, n_best, T, L, device=device)
    out_beta = torch.empty(B, n_best, T, device=device)
    beam = order
    for t in range(T - 1, -1, -1):
        out_tokens[:, :, t] = steps_tokens[t].gather(1, beam)
        parent = steps_parent[t].gather(1, beam)
        # The attention that produced token t was computed by the parent beam at step t.
        out_alpha[:, :, t] = steps_alpha[t].gather(1, parent.unsqueeze(-1).expand(-1, -1, L))
        out_beta[:, :, t] = steps_beta[t].gather(1, parent)
        beam = parent
    ended = finished.gather(1, order)
    return Hypotheses(
        tokens=out_tokens,
        lengths=lengths.gather(1, order) - ended.long(),
        scores=scores.gather(1, order),
        alphas=out_alpha,
        betas=out_beta,
        finished=ended,
    )
