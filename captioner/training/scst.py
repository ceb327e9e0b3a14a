"""Self-critical sequence training (Rennie et al., CVPR 2017), after cross-entropy training.

The model writes a caption per image by sampling its own words, w^s ~ p(w | image), and the
caption's CIDEr-D against the image's references is its reward r(w^s). The policy gradient with a
baseline b, whose expectation is that of the reward,

    loss = -(1 / N) sum_n (r(w^s_n) - b_n) sum_t log p(w^s_nt | w^s_n<t, image)

raises the probability of captions that score above the baseline. The baseline is the reward of
the model's own greedy caption ("greedy", Rennie's: the model is judged against what it would say
at test time, so only samples better than that are reinforced), or, with several samples per
image, the mean reward of that image's other samples ("samples", the "new SC" variant; no greedy
decoding).

The reward is coco-caption's CIDEr-D (pycocoevalcap's Cider, the scorer captioner's evaluation
reports), computed per batch: its IDF comes from the references of the batch's images, where
Rennie et al. take it from the training set's.

Sampling runs the model's own step (Decoder.step), so gradients flow through it; the greedy
baseline runs the same step through a search, without gradients, with the decoder in eval mode.
`self_critical_step` is one optimisation step; the command line does not run SCST yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from pycocoevalcap.cider.cider import Cider

from captioner.decoding.search import greedy_decode
from captioner.model.decoder import Decoder
from captioner.runtime.decoding_step import ReferenceStep
from captioner.vocab import Vocabulary

BASELINES = ("greedy", "samples")


@dataclass
class Sampled:
    """Captions sampled from the model for N rows."""

    tokens: torch.Tensor  # (N, T) word ids; after <end>, <pad>
    log_probs: torch.Tensor  # (N, T) log p of each sampled token (<end> included), 0 after it; differentiable
    lengths: torch.Tensor  # (N,) words before <end>


def sample_captions(decoder: Decoder, features: torch.Tensor, max_len: int, generator: torch.Generator | None = None) -> Sampled:
    """One caption per image of `features` (N, L, D), each word drawn from the model's
    distribution (never <pad> or <start>), through Decoder.step."""
    N, device = features.shape[0], features.device
    keys, state = decoder.start(features)
    tokens = torch.full((N,), Vocabulary.start_id, dtype=torch.long, device=device)
    running = torch.ones(N, dtype=torch.bool, device=device)
    banned = torch.tensor([Vocabulary.pad_id, Vocabulary.start_id], device=device)
    out_tokens, out_log_probs = [], []
    for _ in range(max_len):
        step = decoder.step(tokens, state, features, keys)
        state = step.state
        log_probs = torch.log_softmax(step.logits.index_fill(1, banned, float("-inf")), dim=-1)  # renormalised without them
        tokens = torch.multinomial(log_probs.detach().exp(), 1, generator=generator).squeeze(1)
        out_log_probs.append(log_probs.gather(1, tokens.unsqueeze(1)).squeeze(1) * running)
        out_tokens.append(tokens.masked_fill(~running, Vocabulary.pad_id))
        running = running & (tokens != Vocabulary.end_id)
        if not bool(running.any()):
            break
    tokens = torch.stack(out_tokens, 1)
    lengths = ((tokens != Vocabulary.pad_id) & (tokens != Vocabulary.end_id)).sum(1)
    return Sampled(tokens, torch.stack(out_log_probs, 1), lengths)


def cider_d(captions: Sequence[Sequence[str]], references: Sequence[Sequence[Sequence[str]]]) -> np.ndarray:
    """CIDEr-D of each tokenised caption against its image's tokenised references, by
    pycocoevalcap's Cider (IDF from these references): (N,) array."""
    if len(captions) != len(references) or any(len(refs) == 0 for refs in references):
        raise ValueError("cider_d needs one list of at least one reference per caption")
    gts = {i: [" ".join(ref) for ref in refs] for i, refs in enumerate(references)}
    res = {i: [" ".join(caption)] for i, caption in enumerate(captions)}
    return np.asarray(Cider().compute_score(gts, res)[1], dtype=np.float64)


@dataclass
class ScstStats:
    loss: float
    sample_reward: float  # mean CIDEr-D of the sampled captions
    baseline_reward: float  # mean baseline


def self_critical_step(
    decoder: Decoder,
    optimizer: torch.optim.Optimizer,
    features: torch.Tensor,
    references: Sequence[Sequence[Sequence[str]]],
    vocab: Vocabulary,
    baseline: str = "greedy",
    samples: int = 1,
    max_len: int | None = None,
    grad_clip: float | None = 5.0,
    generator: torch.Generator | None = None,
) -> ScstStats:
    """One SCST update of `decoder` on the annotations (B, L, D) of B images and their tokenised
    references (B lists of word lists): `samples` sampled captions per image, scored by CIDEr-D
    against the baseline ("greedy" or "samples", which needs samples >= 2; see the module's docstring)."""
    if baseline not in BASELINES:
        raise ValueError(f"SCST baseline must be one of {BASELINES}, got {baseline!r}")
    if not isinstance(samples, int) or samples < (2 if baseline == "samples" else 1):
        raise ValueError(
            f"SCST samples must be a whole number >= {2 if baseline == 'samples' else 1} for the {baseline!r} baseline, got {samples!r}"
        )
    if len(references) != features.shape[0]:
        raise ValueError(f"SCST needs references for each of the {features.shape[0]} images, got {len(references)}")
    max_len = max_len or decoder.max_len
    B = features.shape[0]
    per_row_refs = [refs for refs in references for _ in range(samples)]
    sampled = sample_captions(decoder, features.repeat_interleave(samples, 0), max_len, generator)
    rewards = cider_d([vocab.decode(row) for row in sampled.tokens.tolist()], per_row_refs).reshape(B, samples)
    if baseline == "greedy":
        was_training = decoder.training
        decoder.eval()
        try:
            greedy = greedy_decode(ReferenceStep(decoder), features.detach(), max_len=max_len)
        finally:
            decoder.train(was_training)
        base = cider_d([vocab.decode(row) for row in greedy.tokens[:, 0].tolist()], references)[:, None].repeat(samples, 1)
    else:
        base = (rewards.sum(1, keepdims=True) - rewards) / (samples - 1)  # the image's other samples
    advantage = torch.as_tensor(rewards - base, dtype=sampled.log_probs.dtype, device=features.device).reshape(-1)
    loss = -(advantage * sampled.log_probs.sum(1)).mean()
    optimizer.zero_grad()
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(decoder.parameters(), grad_clip)
    optimizer.step()
    return ScstStats(float(loss.detach()), float(rewards.mean()), float(base.mean()))
