"""Greedy decoding and beam search, batched across images.

Beam search keeps, for every image, K hypotheses in one (B*K) batch, so a step is one decoder
call for the whole batch. A hypothesis that emits <end> stays in its beam with a frozen score and
competes with the longer ones on its length-normalised score (sum of log-probs / length^alpha),
so search stops when every beam of every image has ended or at `max_len`, and always returns
a result: an image whose beams never ended gets its best unfinished hypothesis.
Back-pointers are kept per step and followed once at the end (no per-step copying of histories,
except when a repetition control is on: it needs each beam's own words).
An image leaves the batch as soon as all its beams have ended, so a batch costs what its
captions need, not what its longest caption needs for every image.

Every decoding setting lives in `DecodingOptions`, with the one set of defaults that the library,
the command line and the web app share. A search runs a `Stepper`: the model's own step
(runtime.decoding_step.ReferenceStep) or a faster form of it (runtime.InferenceRuntime.step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import torch

from captioner.decoding.options import DecodingOptions, decoding_options
from captioner.vocab import Vocabulary


class Stepper(Protocol):
    """The decoding step a search runs, for N rows over the features (n, L, D) of n images (N a
    multiple of n; an image's rows, its beams, follow each other and share its features and keys)."""

    max_len: int  # the decoding limit when DecodingOptions.max_len is None

    def start(self, features: torch.Tensor) -> tuple:
        """The images' attention keys and initial state (h_0, c_0), and for a grid that self-attends
        a third value: a dict of per-image extras named as the Hypotheses fields they fill
        ("grid_attention" (n, heads, L, L), the maps of the refinement the steps read)."""

    def __call__(self, tokens, state, features, keys) -> tuple:
        """Previous tokens (N,) and state -> log-probabilities (N, V), new state, alpha (N, L), beta (N,),
        and for the attention lab's variants a fifth value: a dict of per-row extras named as the
        Hypotheses fields they fill ("centres" (N, 2), "sentinel_shares" (N,))."""


@dataclass
class Hypotheses:
    """Decoded captions for B images, n best each, best first."""

    tokens: torch.Tensor  # (B, n, T) token ids; after a hypothesis ends, filled with <end>
    lengths: torch.Tensor  # (B, n) words before <end>
    scores: torch.Tensor  # (B, n) length-normalised log-probability
    alphas: torch.Tensor  # (B, n, T, L) attention for each emitted token
    betas: torch.Tensor  # (B, n, T)
    finished: torch.Tensor  # (B, n) True if the hypothesis emitted <end> within max_len
    centres: torch.Tensor | None = None  # (B, n, T, 2) local attention's centre p_t per token (row, column in cells)
    sentinel_shares: torch.Tensor | None = None  # (B, n, T) the visual sentinel's share beta-hat_t per token
    grid_attention: torch.Tensor | None = None  # (B, heads, L, L) per image: where each cell looked in the grid self-attention


def _start_outputs(outputs: tuple) -> tuple:
    """A Stepper's start as (keys, state, per-image extras), extras {} when it gave none."""
    return (*outputs[:2], outputs[2] if len(outputs) > 2 else {})


def _step_outputs(outputs: tuple) -> tuple:
    """A Stepper's outputs as (log_probs, state, alpha, beta, extras), extras {} when it gave none."""
    return (*outputs[:4], outputs[4] if len(outputs) > 4 else {})


def _masked(log_probs: torch.Tensor, history: torch.Tensor | None, options: DecodingOptions) -> torch.Tensor:
    """Log-probabilities of the next word with what may not follow set to -inf: <pad> and <start>
    always; with the repetition controls, per hypothesis from its own words so far
    (`history`, (N, t) token ids after <start>). A NaN log-probability (a broken model) counts as
    -inf, and a hypothesis left with no finite choice ends: it never emits <pad> or <start>."""
    log_probs = torch.nan_to_num(log_probs, nan=float("-inf"), posinf=float("-inf"))
    log_probs[:, Vocabulary.pad_id] = float("-inf")
    log_probs[:, Vocabulary.start_id] = float("-inf")
    stuck = torch.isneginf(log_probs).all(dim=1)
    if bool(stuck.any()):
        log_probs[stuck, Vocabulary.end_id] = torch.finfo(log_probs.dtype).min  # _scored turns it into -inf
    if history is None or history.shape[1] == 0:
        return log_probs
    return _blocked(log_probs, history, options)


def _blocked(log_probs: torch.Tensor, history: torch.Tensor, options: DecodingOptions) -> torch.Tensor:
    """The repetition controls' part of `_masked`: a new tensor with the blocked words at -inf."""
    blocked = torch.zeros(log_probs.shape[0], log_probs.shape[1] + 1, dtype=torch.bool, device=log_probs.device)
    if options.block_repeats:
        blocked.scatter_(1, history[:, -1:], True)
    if options.block_trigrams and history.shape[1] >= 3:
        # Earlier trigrams (a, b, c) whose (a, b) are the last two words: c would repeat one.
        repeats = (history[:, :-2] == history[:, -2:-1]) & (history[:, 1:-1] == history[:, -1:])
        spare = log_probs.shape[1]  # an extra column takes the non-matches, then is dropped
        blocked.scatter_(1, history[:, 2:].masked_fill(~repeats, spare), True)
    blocked[:, Vocabulary.end_id] = False  # ending is always allowed
    return log_probs.masked_fill(blocked[:, :-1], float("-inf"))


def _scored(scores: torch.Tensor) -> torch.Tensor:
    """Final scores, with -inf for a hypothesis that was forced to end because its model gave no
    finite choice (a NaN model): its score means nothing, and the JSON form writes null for it."""
    return scores.masked_fill(scores <= torch.finfo(scores.dtype).min / 2, float("-inf"))


def _check_step(step: Stepper, options: DecodingOptions) -> None:
    """A step made for one way of reading the grid must not serve options asking for another (a
    soft model's step reads it one way: its hard_context is None)."""
    made_for = getattr(step, "hard_context", None)
    if made_for is not None and made_for != options.hard_context:
        raise ValueError(f"the decoding step reads the grid by {made_for!r}, but the options ask for hard_context={options.hard_context!r}")


def _tracks_history(options: DecodingOptions) -> bool:
    return options.block_repeats or options.block_trigrams


def _normalised(sum_log_probs: torch.Tensor, lengths: torch.Tensor, length_penalty: float) -> torch.Tensor:
    return sum_log_probs / lengths.clamp_min(1).to(sum_log_probs.dtype) ** length_penalty


class _Selection:
    """One step of beam search's choice: the K best continuations of each image's beams.

    Most steps need little of the general rule, so it is applied in parts: an ended hypothesis is
    frozen (it may only "emit" <end> again, at no cost) only once some beam has ended, and scores
    are length-normalised only then, since until then every beam has the same length and the
    normalisation cannot change the order. The guards against a broken model (NaN, or no finite
    choice left; see `_masked`) are applied only when the choice found without them is not finite,
    which is what either would cause; otherwise they would not change it."""

    def __init__(self, options: DecodingOptions, device: torch.device):
        self.options = options
        self.banned = torch.tensor([Vocabulary.pad_id, Vocabulary.start_id], device=device)
        self.frozen = None

    def __call__(self, log_probs, history, sum_lp, lengths, finished, beams: int, any_finished: bool):
        """log_probs (A * beams, V) of the A images' rows -> their beams' new (sum_lp, lengths,
        finished), each (A, K), and the parent beam and word (A, K) of each."""
        A, V = log_probs.shape[0] // beams, log_probs.shape[1]
        raw = log_probs.index_fill_(1, self.banned, float("-inf"))  # what _masked does first, in place
        if history is not None and history.shape[1] > 0:
            log_probs = _blocked(raw, history, self.options)
        chosen = self._choose(log_probs.view(A, beams, V), sum_lp, lengths, finished, any_finished)
        if not math.isfinite(chosen[-1].sum().item()):  # a sum is finite only if every value is
            chosen = self._choose(_masked(raw, history, self.options).view(A, beams, V), sum_lp, lengths, finished, any_finished)
        return chosen[:-1]

    def _choose(self, log_probs, sum_lp, lengths, finished, any_finished: bool):
        A, _, V = log_probs.shape
        K = self.options.beam_size
        if any_finished:
            if self.frozen is None:
                self.frozen = torch.full((V,), float("-inf"), device=log_probs.device)
                self.frozen[Vocabulary.end_id] = 0.0
            log_probs = torch.where(finished.unsqueeze(-1), self.frozen, log_probs)
            cand_len = lengths + (~finished).long()
        else:
            cand_len = lengths + 1
        cand_lp = (sum_lp.unsqueeze(-1) + log_probs).view(A, K * V)
        if any_finished and self.options.length_penalty != 0:
            score = _normalised(cand_lp.view(A, K, V), cand_len.unsqueeze(-1), self.options.length_penalty)
            values, top = score.view(A, K * V).topk(K, dim=1)
            sum_lp = cand_lp.gather(1, top)
        else:
            values, top = cand_lp.topk(K, dim=1)
            sum_lp = values
        parent = top.div(V, rounding_mode="floor")
        word = top - parent * V
        if any_finished:
            lengths, finished = cand_len.gather(1, parent), finished.gather(1, parent) | (word == Vocabulary.end_id)
        else:
            lengths, finished = cand_len, word == Vocabulary.end_id
        return sum_lp, lengths, finished, parent, word, values


@torch.no_grad()
def greedy_decode(step: Stepper, features: torch.Tensor, options: DecodingOptions | None = None, **overrides) -> Hypotheses:
    """The most likely word at every step, for a batch of images (B, L, D)."""
    options = decoding_options(options, **overrides)
    _check_step(step, options)
    max_len = options.max_len or step.max_len
    B, device = features.shape[0], features.device
    keys, state, per_image = _start_outputs(step.start(features))
    tokens = torch.full((B,), Vocabulary.start_id, dtype=torch.long, device=device)
    finished = torch.zeros(B, dtype=torch.bool, device=device)
    sum_lp = torch.zeros(B, device=device)
    lengths = torch.zeros(B, dtype=torch.long, device=device)  # tokens emitted incl. <end>
    out_tokens, out_alphas, out_betas, out_extras = [], [], [], []
    for _ in range(max_len):
        log_probs, state, alpha, beta, extras = _step_outputs(step(tokens, state, features, keys))
        history = torch.stack(out_tokens, 1) if out_tokens and _tracks_history(options) else None
        log_probs = _masked(log_probs, history, options)
        best_lp, tokens = log_probs.max(dim=-1)
        tokens = tokens.masked_fill(finished, Vocabulary.end_id)
        sum_lp = sum_lp + best_lp.masked_fill(finished, 0.0)
        lengths = lengths + (~finished).long()
        finished = finished | (tokens == Vocabulary.end_id)
        out_tokens.append(tokens)
        out_alphas.append(alpha)
        out_betas.append(beta)
        out_extras.append(extras)
        if bool(finished.all()):
            break
    toks = torch.stack(out_tokens, 1)
    n_words = lengths - finished.long()
    return Hypotheses(
        tokens=toks[:, None],
        lengths=n_words[:, None],
        scores=_scored(_normalised(sum_lp, lengths, options.length_penalty))[:, None],
        alphas=torch.stack(out_alphas, 1)[:, None],
        betas=torch.stack(out_betas, 1)[:, None],
        finished=finished[:, None],
        **{name: torch.stack([e[name] for e in out_extras], 1)[:, None] for name in out_extras[0]},
        **per_image,
    )


@torch.no_grad()
def beam_search(step: Stepper, features: torch.Tensor, options: DecodingOptions | None = None, **overrides) -> Hypotheses:
    """Beam search for a batch of images (B, L, D); returns the n_best hypotheses per image."""
    options = decoding_options(options, **overrides)
    _check_step(step, options)
    max_len, length_penalty, n_best = options.max_len or step.max_len, options.length_penalty, options.n_best
    B, L, _ = features.shape
    K, device = options.beam_size, features.device
    # The step gets each image's features and keys once, shared by its beams' rows. The K beams
    # of an image start identical, so the first step runs one row per image (`beams` = 1); the
    # selection then copies each row to the K beams it chose.
    keys, state, per_image = _start_outputs(step.start(features))
    feats, beams = features, 1
    tokens = torch.full((B,), Vocabulary.start_id, dtype=torch.long, device=device)
    sum_lp = torch.zeros(B, K, device=device)
    sum_lp[:, 1:] = float("-inf")  # expand only the first of the identical beams
    lengths = torch.zeros(B, K, dtype=torch.long, device=device)
    finished = torch.zeros(B, K, dtype=torch.bool, device=device)
    # Images whose beams have all ended leave the batch: sum_lp, lengths, finished, feats, keys,
    # state and tokens hold only the images still searching, `active` (their indices; None: all).
    # Those that leave write their final beams into `final`.
    active = None
    final = (sum_lp.clone(), lengths.clone(), finished.clone())
    select = _Selection(options, device)
    # Each searching beam's own words so far, only when a repetition control needs them.
    history = torch.empty(B, 0, dtype=torch.long, device=device) if _tracks_history(options) else None
    # Per step: (active, word (A, K), parent (A, K), alpha (A * beams, L), beta (A * beams)) of the images searching.
    steps = []
    # Where each image's rows start in the state, for copying the rows the chosen beams continue.
    images = torch.arange(B, device=device)
    firsts = (images * K).unsqueeze(1)  # (A, 1), kept to the images still searching
    any_finished = False  # whether some searching beam has ended (known without reading `finished`)

    for _ in range(max_len):
        A = sum_lp.shape[0]
        log_probs, state, alpha, beta, extras = _step_outputs(step(tokens, state, feats, keys))
        sum_lp, lengths, finished, parent, word = select(log_probs, history, sum_lp, lengths, finished, beams, any_finished)
        # The state of the row each chosen beam continues (the first step: the image's only row).
        rows = (parent + firsts if beams == K else images[:A, None].expand(A, K)).reshape(-1)
        state = (state[0].index_select(0, rows), state[1].index_select(0, rows))
        tokens = word.view(-1)
        if history is not None:
            history = torch.cat([history.index_select(0, rows), tokens.unsqueeze(1)], dim=1)
        steps.append((active, word, parent, {"alphas": alpha, "betas": beta, **extras}))
        beams = K
        any_finished = bool(finished.any())
        if not any_finished:
            continue
        searching = ~finished.all(dim=1)
        if bool(searching.all()):
            continue
        ended = searching.logical_not().nonzero().squeeze(1)
        where = ended if active is None else active[ended]
        for kept, now in zip(final, (sum_lp, lengths, finished)):
            kept[where] = now[ended]
        if not bool(searching.any()):
            break
        keep = searching.repeat_interleave(K)
        feats, keys, tokens = feats[searching], keys[searching], tokens[keep]
        sum_lp, lengths, finished = sum_lp[searching], lengths[searching], finished[searching]
        any_finished = bool(finished.any())
        history = history[keep] if history is not None else None
        state = (state[0][keep], state[1][keep])
        active = (images if active is None else active)[searching]
        firsts = firsts[: active.shape[0]]
    else:  # the length limit: the images still searching end here
        where = slice(None) if active is None else active
        for kept, now in zip(final, (sum_lp, lengths, finished)):
            kept[where] = now
    sum_lp, lengths, finished = final

    # Rank the final beams and follow back-pointers from each kept beam to the first step. An
    # image that had ended by a step has <end> there, no attention, and stays in the same beam.
    scores = _normalised(sum_lp, lengths, length_penalty)
    order = scores.argsort(dim=1, descending=True)[:, :n_best]  # (B, n)
    T = len(steps)
    out_tokens = torch.full((B, n_best, T), Vocabulary.end_id, dtype=torch.long, device=device)
    # Per-row values of each step, by the Hypotheses field they fill: alphas, betas and any extras.
    per_row = {name: torch.zeros(B, n_best, T, *value.shape[1:], device=device) for name, value in steps[0][3].items()}
    beam = order
    for t in range(T - 1, -1, -1):
        act, word, parent, values = steps[t]
        rows = slice(None) if act is None else act
        here = beam[rows]
        out_tokens[rows, :, t] = word.gather(1, here)
        back = parent.gather(1, here)
        # The attention that produced token t was computed by the parent beam at step t (the
        # image's only row at the first step).
        row = back if values["betas"].shape[0] > word.shape[0] else torch.zeros_like(back)
        for name, value in values.items():
            value = value.view(word.shape[0], -1, *value.shape[1:])
            per_row[name][rows, :, t] = value.gather(1, row.view(*row.shape, *[1] * (value.dim() - 2)).expand(-1, -1, *value.shape[2:]))
        if act is None:
            beam = back
        else:
            beam = beam.clone()
            beam[act] = back
    ended = finished.gather(1, order)
    return Hypotheses(
        tokens=out_tokens,
        lengths=lengths.gather(1, order) - ended.long(),
        scores=_scored(scores.gather(1, order)),
        finished=ended,
        **per_row,
        **per_image,
    )


@torch.no_grad()
def generate(step: Stepper, features: torch.Tensor, options: DecodingOptions = DecodingOptions()) -> Hypotheses:
    """Captions for annotations (B, L, D): greedy decoding or batched beam search, as `options` say.
    `step` reads the grid as the options' hard_context says (InferenceRuntime.step(options.hard_context))."""
    search = greedy_decode if options.greedy else beam_search
    return search(step, features, options)
