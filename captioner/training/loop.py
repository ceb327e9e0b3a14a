"""The training objective and the loop over cached features.

The objective (Xu et al. 2015):
- cross-entropy of the reference words under teacher forcing,
- + lambda * sum_i (1 - sum_t alpha_ti)^2, the doubly stochastic attention penalty,
- hard attention: + REINFORCE on the sampled locations with a moving-average baseline
  (b <- 0.9 b + 0.1 cost), or with several samples per caption a leave-one-out baseline, and an
  entropy bonus (authors' code: 0.002); or, instead, a straight-through Gumbel-softmax estimator
  (TrainConfig.hard_*: the levers compared in docs/results.md).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from captioner.distributed import Distributed
from captioner.model.decoder import DecoderOutput, HardSampling
from captioner.training.attention_supervision import AttentionTargets, attention_supervision_loss
from captioner.training.config import TrainConfig
from captioner.training.fast_decoder import FastTraining
from captioner.vocab import Vocabulary, pad_captions


def caption_loss(
    out: DecoderOutput, targets: torch.Tensor, config: TrainConfig, baseline: float | None, mean: Callable[[float], float] = float
) -> tuple[torch.Tensor, dict, float | None]:
    """The training objective for one batch. Returns (loss, logged values, new baseline).
    `mean` averages a number over processes, so all of them keep the same baseline."""
    mask = targets != Vocabulary.pad_id  # (B, T)
    token_ce = F.cross_entropy(out.logits.transpose(1, 2), targets, reduction="none") * mask  # (B, T)
    ce = token_ce.sum() / mask.sum()
    attention_mass = (out.alphas * mask.unsqueeze(-1)).sum(dim=1)  # (B, L): sum_t alpha_ti
    penalty = ((1.0 - attention_mass) ** 2).sum(dim=1).mean()
    # The paper adds the penalty to each caption's summed negative log-likelihood; `ce` is a mean
    # per word, so the penalty is divided by the words per caption to keep the paper's balance.
    # (Added to the mean as is, it is ~12x stronger and spreads attention: sum_i (1 - m_i)^2 =
    # L - 2T + sum_i m_i^2 is smallest for uniform attention.)
    words_per_caption = mask.sum() / mask.shape[0]
    loss = ce + config.doubly_stochastic * penalty / words_per_caption
    logs = {"ce": ce.item(), "attention_penalty": penalty.item()}
    if out.sample_log_probs is not None:
        cost = token_ce.sum(dim=1).detach()  # per caption: the negative log-likelihood
        K = config.hard_samples
        if K > 1:  # rows come in groups of K samples of one caption: each is judged against the others
            grouped = cost.view(-1, K)
            reference = ((grouped.sum(dim=1, keepdim=True) - grouped) / (K - 1)).view(-1)
        else:
            mean_cost = mean(cost.mean().item())
            baseline = mean_cost if baseline is None else config.baseline_decay * baseline + (1 - config.baseline_decay) * mean_cost
            reference = baseline
        log_prob = (out.sample_log_probs * mask).sum(dim=1)
        reinforce = config.reinforce_scale * ((cost - reference) * log_prob).mean()
        entropy = (out.entropies * mask).sum() / mask.sum()
        loss = loss + reinforce - config.entropy_bonus * entropy
        logs.update(reinforce=reinforce.item(), entropy=entropy.item())
        if K == 1:
            logs["baseline"] = baseline
    logs["loss"] = loss.item()
    return loss, logs, baseline


class NonFiniteLossError(FloatingPointError):
    """A training step's loss was NaN or infinite; training stops before the weights take it."""


# -- the loop -----------------------------------------------------------------------------------


@dataclass
class TrainState:
    """Where a run is; saved with every checkpoint."""

    epoch: int = 0  # current epoch (0-based): the cross-entropy epochs, then the SCST ones (train.scst_epochs)
    step_in_epoch: int = 0  # batches of the current epoch already done
    global_step: int = 0
    baseline: float | None = None
    best_score: float | None = None
    epochs_without_improvement: int = 0
    history: list = field(default_factory=list)
    phase: str = "xe"  # "xe" (cross-entropy) or "scst" (self-critical, training.scst)


def hard_sampling(config: TrainConfig, progress: float) -> HardSampling:
    """How hard attention samples in this batch, `progress` (0 to 1) through the run. With
    hard_expected_per "batch" the whole batch reads either expected contexts or samples, drawn
    here from torch's generator (saved with checkpoints, so a resumed run draws the same)."""
    sampling = config.hard_sampling(progress)
    if config.hard_expected_per == "batch":
        sampling = dataclasses.replace(sampling, expected_prob=float(torch.rand(()).item() < sampling.expected_prob))
    return sampling


def parameter_groups(model, config: TrainConfig, lr: float) -> tuple[bool, list[dict]]:
    """(whether the encoder is fine-tuned, the optimizer's parameter groups): the decoder's trainable
    parameters at `lr`, and with finetune_blocks > 0 the encoder's trainable blocks at
    config.encoder_lr scaled as `lr` is to config.lr, with their own weight decay."""
    encoder = getattr(model, "encoder", None)  # (a bare decoder may be trained too)
    fine_tuning = encoder is not None and model.config.finetune_blocks > 0
    groups = [{"params": [p for p in model.decoder.parameters() if p.requires_grad], "lr": lr}]
    encoder_params = [p for p in encoder.parameters() if p.requires_grad] if fine_tuning else []
    if encoder_params:
        encoder_lr = config.encoder_lr if lr == config.lr else config.encoder_lr * lr / config.lr
        groups.append({"params": encoder_params, "lr": encoder_lr, "weight_decay": config.encoder_weight_decay})
    return fine_tuning, groups


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The order of the training pairs in an epoch: a function of (seed, epoch) alone, so a
    resumed run sees exactly the batches the interrupted one would have."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)).tolist()


def train_decoder(
    model,
    features: np.ndarray,
    pairs: Sequence[tuple[int, Sequence[int]]],
    config: TrainConfig,
    progress: bool = True,
    state: TrainState | None = None,
    optimizer_state: dict | None = None,
    on_checkpoint: Callable[[TrainState, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler], None] | None = None,
    on_epoch_end: Callable[[TrainState], bool] | None = None,
    stop_after_steps: int | None = None,
    dist: Distributed = Distributed(),
    attention_targets: AttentionTargets | None = None,
) -> TrainState:
    """Train `model.decoder` on (image index, encoded caption) pairs over cached `features`: the
    encoder's annotations when it is frozen (it never runs here), or, with finetune_blocks > 0, the
    output of its frozen part (CaptionModel.encode_frozen), on which its last blocks run and train
    at every step with their own learning rate (config.encoder_lr) and weight decay.

    `state`/`optimizer_state` continue an earlier run. `on_checkpoint` is called every
    `config.checkpoint_every` steps and at each epoch's end; `on_epoch_end` returns True to stop
    early. `stop_after_steps` ends the run after that many steps in this call (tests use it to
    simulate a killed run). `attention_targets` (for the pairs, in order) supervise the attention
    of grounded words with the weight config.attention_supervision. Under torchrun (`dist`), every step takes `batch_size` pairs on each
    process and gradients are averaged; the callbacks run on rank 0 only."""
    state = state or TrainState()
    if state.global_step == 0:
        torch.manual_seed(config.seed + dist.rank)  # dropout and sampling differ between processes
    decoder = model.decoder
    fine_tuning, groups = parameter_groups(model, config, config.lr)
    params = [p for group in groups for p in group["params"]]
    model.train()  # (the encoder's batch-norm statistics stay frozen: Encoder.train)
    device = next(decoder.parameters()).device
    # CaptionModel.forward: teacher forcing on annotations (or, fine-tuning, on the frozen part's
    # output), the paper's plain form or the same faster (fast_decoder, config.speedups).
    forward = FastTraining(model) if config.speedups else model
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel

        # Batch-norm statistics are frozen, so the buffers never change and none are broadcast.
        forward = DistributedDataParallel(forward, device_ids=[device.index] if device.type == "cuda" else None, broadcast_buffers=False)
    optimizer = torch.optim.Adam(groups, lr=config.lr)
    global_batch = config.batch_size * dist.world_size
    steps_per_epoch = math.ceil(len(pairs) / global_batch)
    total_steps = max(1, config.epochs * steps_per_epoch)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    hard = getattr(decoder, "hard", False)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state["optimizer"])
        scheduler.load_state_dict(optimizer_state["scheduler"])
    steps_this_call = 0
    while state.epoch < config.epochs:
        order = epoch_order(len(pairs), config.seed, state.epoch)
        totals: dict[str, float] = {}
        started, seen = time.perf_counter(), 0
        bar = tqdm(
            range(state.step_in_epoch, steps_per_epoch), disable=not progress, desc=f"epoch {state.epoch + 1}/{config.epochs}", unit="step"
        )
        for step in bar:
            chunk = order[step * global_batch : (step + 1) * global_batch][dist.rank :: dist.world_size]
            batch = [pairs[i] for i in chunk]
            feats = torch.from_numpy(np.array(features[[i for i, _ in batch]], dtype=np.float32)).to(device)
            captions = pad_captions([c for _, c in batch]).to(device)
            kwargs = {"from_frozen": True} if fine_tuning else {}
            if hard:
                kwargs["sampling"] = hard_sampling(config, state.global_step / total_steps)
                if config.hard_samples > 1:
                    feats, captions = feats.repeat_interleave(config.hard_samples, 0), captions.repeat_interleave(config.hard_samples, 0)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda" and config.amp):
                out = forward(feats, captions, **kwargs)
            loss, logs, baseline = caption_loss(out, captions[:, 1:], config, state.baseline, dist.mean)
            if attention_targets is not None and config.attention_supervision > 0:
                grounded = attention_targets.batch(chunk, config.hard_samples if hard else 1, device)
                supervision = attention_supervision_loss(out.alphas, *grounded)
                loss = loss + config.attention_supervision * supervision
                logs.update(attention_supervision=supervision.item(), loss=loss.item())
            if not math.isfinite(dist.mean(logs["loss"])):  # every process stops together
                raise NonFiniteLossError(
                    f"loss is {logs['loss']} at epoch {state.epoch + 1}, step {step + 1} (global step {state.global_step + 1}): "
                    f"training stopped before the weights took the step. Check the data and features for NaN, or lower the "
                    f"learning rate; the last checkpoint (if any) is the state before it"
                )
            state.baseline = baseline
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
            optimizer.step()
            scheduler.step()
            state.step_in_epoch, state.global_step = step + 1, state.global_step + 1
            seen += len(batch) * dist.world_size
            for k, v in logs.items():
                totals[k] = totals.get(k, 0.0) + v
            bar.set_postfix(ce=f"{logs['ce']:.3f}", img_per_s=f"{seen / (time.perf_counter() - started):.0f}")
            steps_this_call += 1
            last_step = state.step_in_epoch == steps_per_epoch
            if (
                on_checkpoint
                and dist.is_main
                and not last_step
                and config.checkpoint_every
                and state.global_step % config.checkpoint_every == 0
            ):
                on_checkpoint(state, optimizer, scheduler)
            if stop_after_steps is not None and steps_this_call >= stop_after_steps and not last_step:
                return state
        summary = {k: v / max(1, len(bar)) for k, v in totals.items()}
        summary.update(
            epoch=state.epoch + 1,
            seconds=round(time.perf_counter() - started, 2),
            pairs_per_s=round(seen / max(1e-9, time.perf_counter() - started), 1),
        )
        state.history.append(summary)
        state.epoch, state.step_in_epoch = state.epoch + 1, 0
        stop = bool(on_epoch_end(state)) if on_epoch_end and dist.is_main else False
        stop = dist.broadcast_flag(stop)
        model.train()
        if on_checkpoint and dist.is_main:
            on_checkpoint(state, optimizer, scheduler)
        dist.barrier()
        if stop or (stop_after_steps is not None and steps_this_call >= stop_after_steps):
            break
    model.eval()
    return state
