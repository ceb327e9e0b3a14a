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
`self_critical_step` is one optimisation step; `train_self_critical` runs epochs of them after
the cross-entropy epochs (`captioner train --set train.scst_epochs=N`, training.run).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from pycocoevalcap.cider.cider import Cider
from tqdm.auto import tqdm

from captioner.decoding.search import greedy_decode
from captioner.model.decoder import Decoder
from captioner.runtime.decoding_step import ReferenceStep
from captioner.training.loop import epoch_order, parameter_groups
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
    clipped: Sequence[torch.nn.Parameter] | None = None,
) -> ScstStats:
    """One SCST update of `decoder` on the annotations (B, L, D) of B images and their tokenised
    references (B lists of word lists): `samples` sampled captions per image, scored by CIDEr-D
    against the baseline ("greedy" or "samples", which needs samples >= 2; see the module's docstring).
    `clipped`: the parameters whose gradient norm is clipped (default the decoder's)."""
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
        torch.nn.utils.clip_grad_norm_(decoder.parameters() if clipped is None else clipped, grad_clip)
    optimizer.step()
    return ScstStats(float(loss.detach()), float(rewards.mean()), float(base.mean()))


# TrainConfig.scst_baseline -> self_critical_step's baseline
CONFIG_BASELINES = {"greedy": "greedy", "mean": "samples"}


def train_self_critical(
    model,
    features: np.ndarray,
    references: Sequence[Sequence[Sequence[str]]],
    vocab: Vocabulary,
    config,
    state,
    optimizer_state: dict | None = None,
    on_checkpoint: Callable | None = None,
    on_epoch_end: Callable | None = None,
    stop_after_steps: int | None = None,
    progress: bool = True,
):
    """The SCST epochs of a run (TrainConfig.scst_*), after its cross-entropy epochs: state.epoch
    counts on from config.epochs to config.epochs + config.scst_epochs. Each step takes
    config.batch_size training images (their cached `features`, and `references`, each image's
    tokenised captions), in an order fixed by (seed, epoch) as cross-entropy training's is, and
    makes one self_critical_step with a fresh Adam at the constant rate config.scst_lr.
    `state`, `optimizer_state` and the callbacks are training.loop.train_decoder's (the
    checkpoints hold this phase's optimizer); returns the state."""
    decoder = model.decoder
    fine_tuning, groups = parameter_groups(model, config, config.scst_lr)
    params = [p for group in groups for p in group["params"]]
    model.train()
    device = next(decoder.parameters()).device
    optimizer = torch.optim.Adam(groups, lr=config.scst_lr)
    scheduler = torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state["optimizer"])
        scheduler.load_state_dict(optimizer_state["scheduler"])
    total_epochs = config.epochs + config.scst_epochs
    steps_per_epoch = math.ceil(len(features) / config.batch_size)
    steps_this_call = 0
    while state.epoch < total_epochs:
        order = epoch_order(len(features), config.seed, state.epoch)
        totals: dict[str, float] = {}
        started = time.perf_counter()
        bar = tqdm(
            range(state.step_in_epoch, steps_per_epoch),
            disable=not progress,
            desc=f"epoch {state.epoch + 1}/{total_epochs} (SCST)",
            unit="step",
        )
        for step in bar:
            chunk = order[step * config.batch_size : (step + 1) * config.batch_size]
            feats = torch.from_numpy(np.array(features[chunk], dtype=np.float32)).to(device)
            if fine_tuning:  # the cache holds the frozen part's output; the trainable blocks run here
                feats = model.annotations_from_frozen(feats)
            stats = self_critical_step(
                decoder,
                optimizer,
                feats,
                [references[i] for i in chunk],
                vocab,
                CONFIG_BASELINES[config.scst_baseline],
                config.scst_samples,
                grad_clip=config.grad_clip,
                clipped=params,
            )
            scheduler.step()
            state.step_in_epoch, state.global_step = step + 1, state.global_step + 1
            for key, value in (("scst_loss", stats.loss), ("scst_reward", stats.sample_reward), ("scst_baseline", stats.baseline_reward)):
                totals[key] = totals.get(key, 0.0) + value
            bar.set_postfix(reward=f"{stats.sample_reward:.3f}", baseline=f"{stats.baseline_reward:.3f}")
            steps_this_call += 1
            last_step = state.step_in_epoch == steps_per_epoch
            if on_checkpoint and not last_step and config.checkpoint_every and state.global_step % config.checkpoint_every == 0:
                on_checkpoint(state, optimizer, scheduler)
            if stop_after_steps is not None and steps_this_call >= stop_after_steps and not last_step:
                return state
        summary = {k: v / max(1, len(bar)) for k, v in totals.items()}
        summary.update(epoch=state.epoch + 1, phase="scst", seconds=round(time.perf_counter() - started, 2))
        state.history.append(summary)
        state.epoch, state.step_in_epoch = state.epoch + 1, 0
        stop = bool(on_epoch_end(state)) if on_epoch_end else False
        model.train()
        if on_checkpoint:
            on_checkpoint(state, optimizer, scheduler)
        if stop or (stop_after_steps is not None and steps_this_call >= stop_after_steps):
            break
    model.eval()
    return state
