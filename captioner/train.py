"""Training the decoder on cached encoder features.

With a frozen encoder the annotations of an image never change, so they are computed once
(`extract_features`, written to a memory-mapped .npy file) and every epoch trains the decoder
alone. The objective (Xu et al. 2015):
- cross-entropy of the reference words under teacher forcing,
- + lambda * sum_i (1 - sum_t alpha_ti)^2, the doubly stochastic attention penalty,
- hard attention: + REINFORCE on the sampled locations with a moving-average baseline
  (b <- 0.9 b + 0.1 cost) and an entropy bonus (authors' code: 0.002).

This module is the first piece of `captioner train`; resumable runs, validation by decoding,
and distributed training build on it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from captioner.decoder import DecoderOutput
from captioner.images import load_image
from captioner.vocab import Vocabulary


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 64
    lr: float = 4e-4
    grad_clip: float = 5.0
    doubly_stochastic: float = 1.0  # lambda of the attention penalty
    baseline_decay: float = 0.9  # hard attention: b <- decay * b + (1 - decay) * cost
    entropy_bonus: float = 0.002  # hard attention
    max_caption_len: int = 20
    seed: int = 0


def extract_features(captioner, images: Sequence, out_file: str | Path | None = None, batch_size: int = 32, progress: bool = False) -> np.ndarray:
    """Encoder annotations (N, L, D) as float16, computed once. With `out_file` they are written
    to a memory-mapped .npy file that later runs reopen without running the CNN."""
    L = captioner.config.grid_size[0] * captioner.config.grid_size[1]
    shape = (len(images), L, captioner.config.feature_dim)
    if out_file is not None:
        out = np.lib.format.open_memmap(str(out_file), mode="w+", dtype=np.float16, shape=shape)
    else:
        out = np.empty(shape, dtype=np.float16)
    for start in tqdm(range(0, len(images), batch_size), disable=not progress, desc="encoding", unit="batch"):
        batch = [load_image(im) for im in images[start : start + batch_size]]
        out[start : start + len(batch)] = captioner.encode(batch).to(torch.float16).cpu().numpy()
    if out_file is not None:
        out.flush()
    return out


def caption_loss(out: DecoderOutput, targets: torch.Tensor, config: TrainConfig, baseline: float | None) -> tuple[torch.Tensor, dict, float | None]:
    """The training objective for one batch. Returns (loss, logged values, new baseline)."""
    mask = targets != Vocabulary.pad_id  # (B, T)
    token_ce = F.cross_entropy(out.logits.transpose(1, 2), targets, reduction="none") * mask  # (B, T)
    ce = token_ce.sum() / mask.sum()
    attention_mass = (out.alphas * mask.unsqueeze(-1)).sum(dim=1)  # (B, L): sum_t alpha_ti
    penalty = ((1.0 - attention_mass) ** 2).sum(dim=1).mean()
    loss = ce + config.doubly_stochastic * penalty
    logs = {"ce": ce.item(), "attention_penalty": penalty.item()}
    if out.sample_log_probs is not None:
        cost = token_ce.sum(dim=1).detach()  # per caption: the negative log-likelihood
        baseline = cost.mean().item() if baseline is None else config.baseline_decay * baseline + (1 - config.baseline_decay) * cost.mean().item()
        log_prob = (out.sample_log_probs * mask).sum(dim=1)
        reinforce = ((cost - baseline) * log_prob).mean()
        entropy = (out.entropies * mask).sum() / mask.sum()
        loss = loss + reinforce - config.entropy_bonus * entropy
        logs.update(reinforce=reinforce.item(), entropy=entropy.item(), baseline=baseline)
    logs["loss"] = loss.item()
    return loss, logs, baseline


def pad_captions(captions: Sequence[Sequence[int]]) -> torch.Tensor:
    longest = max(len(c) for c in captions)
    out = torch.full((len(captions), longest), Vocabulary.pad_id, dtype=torch.long)
    for i, c in enumerate(captions):
        out[i, : len(c)] = torch.as_tensor(c)
    return out


def train_decoder(
    model,
    features: np.ndarray,
    pairs: Sequence[tuple[int, Sequence[int]]],
    config: TrainConfig,
    progress: bool = True,
    on_epoch_end: Callable[[int, dict], None] | None = None,
) -> list[dict]:
    """Train `model.decoder` on (image index, encoded caption) pairs over cached `features`.
    Returns one dict of averaged logs per epoch."""
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    decoder = model.decoder.train()
    device = next(decoder.parameters()).device
    optimizer = torch.optim.Adam([p for p in decoder.parameters() if p.requires_grad], lr=config.lr)
    steps_per_epoch = math.ceil(len(pairs) / config.batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, config.epochs * steps_per_epoch))
    baseline, history = None, []
    for epoch in range(config.epochs):
        order = torch.randperm(len(pairs), generator=generator).tolist()
        totals: dict[str, float] = {}
        started, seen = time.perf_counter(), 0
        bar = tqdm(range(steps_per_epoch), disable=not progress, desc=f"epoch {epoch + 1}/{config.epochs}", unit="step")
        for step in bar:
            batch = [pairs[i] for i in order[step * config.batch_size : (step + 1) * config.batch_size]]
            feats = torch.from_numpy(np.stack([features[i] for i, _ in batch])).to(device=device, dtype=torch.float32)
            captions = pad_captions([c[: config.max_caption_len + 2] for _, c in batch]).to(device)
            out = decoder(feats, captions)
            loss, logs, baseline = caption_loss(out, captions[:, 1:], config, baseline)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(decoder.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
            seen += len(batch)
            for k, v in logs.items():
                totals[k] = totals.get(k, 0.0) + v
            bar.set_postfix(loss=f"{logs['loss']:.3f}", pairs_per_s=f"{seen / (time.perf_counter() - started):.0f}")
        summary = {k: v / steps_per_epoch for k, v in totals.items()} | {"epoch": epoch + 1, "seconds": time.perf_counter() - started}
        history.append(summary)
        if on_epoch_end is not None:
            on_epoch_end(epoch, summary)
    decoder.eval()
    return history
