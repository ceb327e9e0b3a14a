"""Training: `captioner train`.

With a frozen encoder the annotations of an image never change, so they are computed once
(`extract_features`, a memory-mapped .npy cache that later runs reopen) and every epoch trains
the decoder alone. The objective (Xu et al. 2015):
- cross-entropy of the reference words under teacher forcing,
- + lambda * sum_i (1 - sum_t alpha_ti)^2, the doubly stochastic attention penalty,
- hard attention: + REINFORCE on the sampled locations with a moving-average baseline
  (b <- 0.9 b + 0.1 cost) and an entropy bonus (authors' code: 0.002).
Validation decodes for real (greedy) and scores CIDEr-D; early stopping and the kept "best" model
follow it. Checkpoints (weights, optimizer, schedule, random state, position in the epoch) are
written atomically; a resumed run reaches the same weights as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from captioner.checkpoint import _atomic_write, save_model
from captioner.config import CONFIG_FORMAT, ModelConfig
from captioner.decoder import DecoderOutput
from captioner.distributed import Distributed, process_group
from captioner.images import load_image
from captioner.vocab import Vocabulary, pad_captions

LATEST = "latest"  # file in the run folder naming the newest complete checkpoint


@dataclass
class TrainConfig:
    data: str = ""  # a data set path (see captioner.datasets.load_dataset)
    image_root: str | None = None
    out: str = "runs/train"
    epochs: int = 20
    batch_size: int = 64
    lr: float = 4e-4
    grad_clip: float = 5.0
    doubly_stochastic: float = 1.0  # lambda of the attention penalty
    baseline_decay: float = 0.9  # hard attention: b <- decay * b + (1 - decay) * cost
    entropy_bonus: float = 0.002  # hard attention
    max_caption_len: int = 20
    min_word_freq: int = 5
    seed: int = 0
    checkpoint_every: int = 500  # steps; a checkpoint is also written at each epoch's end
    keep_checkpoints: int = 2
    val_images: int = 1000  # at most this many validation images are decoded each epoch
    patience: int = 5  # epochs without a better validation CIDEr-D before stopping
    device: str = "auto"
    encode_batch_size: int = 32
    amp: bool = True  # bfloat16 autocast on CUDA (never on the CPU)
    cache_dir: str | None = None  # where encoder features are cached (default: <out>/cache); runs may share one
    trained_on: str = ""  # shown to users of the model; defaults to the data path

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


# -- features -----------------------------------------------------------------------------------


def extract_features(captioner, images: Sequence, out_file: str | Path | None = None, batch_size: int = 32, progress: bool = False) -> np.ndarray:
    """Encoder annotations (N, L, D) as float16, computed once. With `out_file` they are written
    to a memory-mapped .npy file (completed atomically) that later runs reopen."""
    L = captioner.config.grid_size[0] * captioner.config.grid_size[1]
    shape = (len(images), L, captioner.config.feature_dim)
    if out_file is not None:
        out_file = Path(out_file)
        if out_file.exists():
            cached = np.load(out_file, mmap_mode="r")
            if cached.shape == shape:
                return cached
        tmp = out_file.with_suffix(".tmp.npy")
        out = np.lib.format.open_memmap(str(tmp), mode="w+", dtype=np.float16, shape=shape)
    else:
        out = np.empty(shape, dtype=np.float16)
    for start in tqdm(range(0, len(images), batch_size), disable=not progress, desc="encoding", unit="batch"):
        batch = [load_image(im) for im in images[start : start + batch_size]]
        out[start : start + len(batch)] = captioner.encode(batch).to(torch.float16).cpu().numpy()
    if out_file is not None:
        out.flush()
        del out
        os.replace(tmp, out_file)
        return np.load(out_file, mmap_mode="r")
    return out


def feature_cache_name(config: ModelConfig, paths: Sequence[Path]) -> str:
    """Cache file name that changes whenever the encoder setup or the image list does."""
    key = [config.encoder, config.encoder_weights, config.image_size, list(config.feature_levels), config.finetune_blocks]
    if config.grid_level is not None:  # (keeps the names of caches made before grid_level existed)
        key.append(config.grid_level)
    key = json.dumps(key)
    digest = hashlib.sha1(key.encode() + "\n".join(map(str, paths)).encode()).hexdigest()[:16]
    return f"features-{digest}.npy"


# -- the objective ------------------------------------------------------------------------------


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
        mean_cost = mean(cost.mean().item())
        baseline = mean_cost if baseline is None else config.baseline_decay * baseline + (1 - config.baseline_decay) * mean_cost
        log_prob = (out.sample_log_probs * mask).sum(dim=1)
        reinforce = ((cost - baseline) * log_prob).mean()
        entropy = (out.entropies * mask).sum() / mask.sum()
        loss = loss + reinforce - config.entropy_bonus * entropy
        logs.update(reinforce=reinforce.item(), entropy=entropy.item(), baseline=baseline)
    logs["loss"] = loss.item()
    return loss, logs, baseline


# -- the loop -----------------------------------------------------------------------------------


@dataclass
class TrainState:
    """Where a run is; saved with every checkpoint."""

    epoch: int = 0  # current epoch (0-based)
    step_in_epoch: int = 0  # batches of the current epoch already done
    global_step: int = 0
    baseline: float | None = None
    best_score: float | None = None
    epochs_without_improvement: int = 0
    history: list = field(default_factory=list)


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
) -> TrainState:
    """Train `model.decoder` on (image index, encoded caption) pairs over cached `features`.

    `state`/`optimizer_state` continue an earlier run. `on_checkpoint` is called every
    `config.checkpoint_every` steps and at each epoch's end; `on_epoch_end` returns True to stop
    early. `stop_after_steps` ends the run after that many steps in this call (tests use it to
    simulate a killed run). Under torchrun (`dist`), every step takes `batch_size` pairs on each
    process and gradients are averaged; the callbacks run on rank 0 only."""
    state = state or TrainState()
    if state.global_step == 0:
        torch.manual_seed(config.seed + dist.rank)  # dropout and sampling differ between processes
    decoder = model.decoder.train()
    device = next(decoder.parameters()).device
    params = [p for p in decoder.parameters() if p.requires_grad]
    forward = decoder
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel

        forward = DistributedDataParallel(decoder, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = torch.optim.Adam(params, lr=config.lr)
    global_batch = config.batch_size * dist.world_size
    steps_per_epoch = math.ceil(len(pairs) / global_batch)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, config.epochs * steps_per_epoch))
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
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda" and config.amp):
                out = forward(feats, captions)
            loss, logs, state.baseline = caption_loss(out, captions[:, 1:], config, state.baseline, dist.mean)
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
            if on_checkpoint and dist.is_main and not last_step and config.checkpoint_every and state.global_step % config.checkpoint_every == 0:
                on_checkpoint(state, optimizer, scheduler)
            if stop_after_steps is not None and steps_this_call >= stop_after_steps and not last_step:
                return state
        summary = {k: v / max(1, len(bar)) for k, v in totals.items()}
        summary.update(epoch=state.epoch + 1, seconds=round(time.perf_counter() - started, 2), pairs_per_s=round(seen / max(1e-9, time.perf_counter() - started), 1))
        state.history.append(summary)
        state.epoch, state.step_in_epoch = state.epoch + 1, 0
        stop = bool(on_epoch_end(state)) if on_epoch_end and dist.is_main else False
        stop = dist.broadcast_flag(stop)
        decoder.train()
        if on_checkpoint and dist.is_main:
            on_checkpoint(state, optimizer, scheduler)
        dist.barrier()
        if stop or (stop_after_steps is not None and steps_this_call >= stop_after_steps):
            break
    decoder.eval()
    return state


# -- checkpoints --------------------------------------------------------------------------------


def save_checkpoint(run: Path, captioner, state: TrainState, optimizer, scheduler, keep: int = 2) -> Path:
    """Write run/checkpoint-<step>/ (model directory + trainer state) and point run/latest at it.
    The folder is completed under a temporary name and renamed, so a kill leaves either the old
    or the new checkpoint, never half of one. Nothing is pickled."""
    from safetensors.torch import save_file

    name = f"checkpoint-{state.global_step:08d}"
    tmp = run / (name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_model(captioner.model, captioner.vocab, tmp)
    tensors, meta = {}, {"param_groups": None, "optimizer_state": {}, "scheduler": scheduler.state_dict()}
    opt = optimizer.state_dict()
    meta["param_groups"] = opt["param_groups"]
    for idx, values in opt["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                meta["optimizer_state"].setdefault(str(idx), {})[key] = value
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    save_file(tensors, str(tmp / "trainer.safetensors"))
    (tmp / "trainer.json").write_text(json.dumps({"state": dataclasses.asdict(state), **meta}, indent=1))
    final = run / name
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    _atomic_write(run / LATEST, lambda p: p.write_text(name))
    checkpoints = sorted(p for p in run.glob("checkpoint-*") if p.is_dir() and not p.name.endswith(".tmp"))
    for old in checkpoints[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(run: Path, device) -> tuple[object, TrainState, dict]:
    """The newest complete checkpoint of a run: (captioner, train state, optimizer state)."""
    from safetensors.torch import load_file

    from captioner.pipeline import Captioner

    pointer = run / LATEST
    if not pointer.is_file():
        raise FileNotFoundError(f"{run}: no checkpoint to resume from (no '{LATEST}' file)")
    folder = run / pointer.read_text().strip()
    captioner = Captioner.from_pretrained(folder, device=device)
    info = json.loads((folder / "trainer.json").read_text())
    tensors = load_file(str(folder / "trainer.safetensors"))
    state = TrainState(**info["state"])
    opt_state: dict = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, idx, name = key.split(".", 2)
            opt_state.setdefault(int(idx), {})[name] = value.to(device) if name != "step" else value
    for idx, values in info["optimizer_state"].items():
        opt_state.setdefault(int(idx), {}).update(values)
    torch.set_rng_state(tensors["rng.torch"])
    if torch.cuda.is_available():
        cuda_states = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
        if cuda_states:
            torch.cuda.set_rng_state_all(cuda_states)
    optimizer = {"optimizer": {"state": opt_state, "param_groups": info["param_groups"]}, "scheduler": info["scheduler"]}
    return captioner, state, optimizer


# -- a whole run --------------------------------------------------------------------------------


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def decode_features(captioner, features: np.ndarray, beam_size: int = 1, batch_size: int = 128) -> list:
    """Caption results for cached features (real decoding, with the model in eval mode)."""
    was_training = captioner.model.training
    captioner.model.eval()
    results = []
    for start in range(0, len(features), batch_size):
        feats = torch.from_numpy(np.array(features[start : start + batch_size], dtype=np.float32)).to(captioner.device)
        results.extend(captioner.decode(feats, beam_size=beam_size))
    captioner.model.train(was_training)
    return results


def run_training(model_config: ModelConfig, config: TrainConfig, resume: bool = False, progress: bool = True, stop_after_steps: int | None = None) -> Path:
    """Train a model as configured; returns the run folder. The best model by validation
    CIDEr-D is in run/best (run/final holds the last weights). Under torchrun every process
    trains on its share of each batch; rank 0 caches features, validates and checkpoints."""
    dist = Distributed.from_env()
    device = resolve_device(config.device)
    if device.type == "cuda" and dist.enabled:
        device = torch.device("cuda", dist.local_rank)
    with process_group(dist, "nccl" if device.type == "cuda" else "gloo"):
        return _run_training(model_config, config, device, dist, resume, progress, stop_after_steps)


def _run_training(model_config, config, device, dist, resume, progress, stop_after_steps) -> Path:
    from captioner.datasets import load_dataset, references
    from captioner.metrics import caption_metrics
    from captioner.pipeline import Captioner

    run = Path(config.out)
    progress = progress and dist.is_main
    if resume:
        saved = json.loads((run / "train_config.json").read_text())
        config = dataclasses.replace(TrainConfig(**saved["train"]), out=str(run), device=config.device)
        captioner, state, optimizer_state = load_checkpoint(run, device)
    else:
        if (run / LATEST).exists() and dist.is_main:
            raise FileExistsError(f"{run} already holds a training run: use --resume to continue it, or another --out")
        state, optimizer_state = None, None
    records = load_dataset(config.data, config.image_root)
    train_records = [r for r in records if r.split == "train"]
    val_records = [r for r in records if r.split == "val"][: config.val_images]
    if not train_records:
        raise ValueError(f"{config.data}: no images in the train split")
    if not resume:
        vocab = Vocabulary.build((c for r in train_records for c in r.captions), min_freq=config.min_word_freq)
        model_config = dataclasses.replace(model_config, trained_on=config.trained_on or f"{Path(config.data).name}: {len(train_records)} training images")
        torch.manual_seed(config.seed)
        captioner = Captioner.from_config(model_config, vocab, device=device)
        run.mkdir(parents=True, exist_ok=True)
        if dist.is_main:
            (run / "train_config.json").write_text(json.dumps({"model": captioner.config.to_json(), "train": config.to_json()}, indent=2))
    vocab = captioner.vocab

    cache = Path(config.cache_dir) if config.cache_dir else run / "cache"
    cache.mkdir(parents=True, exist_ok=True)

    def features_for(recs):
        paths = [r.image_path for r in recs]
        return extract_features(captioner, paths, cache / feature_cache_name(captioner.config, paths), config.encode_batch_size, progress)

    # Rank 0 computes the cache; the other processes wait for it, then open it.
    if not dist.is_main:
        dist.barrier()
    train_features = features_for(train_records)
    val_features = features_for(val_records) if val_records else None
    if dist.is_main:
        dist.barrier()
    pairs = [(i, vocab.encode(c, max_len=config.max_caption_len)) for i, r in enumerate(train_records) for c in r.captions]
    log_file = run / "metrics.jsonl"

    def log(record: dict) -> None:
        with open(log_file, "a") as fh:
            fh.write(json.dumps(record) + "\n")

    val_references = references(val_records)

    def on_epoch_end(st: TrainState) -> bool:
        record = dict(st.history[-1])
        if val_features is not None:
            results = decode_features(captioner, val_features)
            predictions = {r.image_id: res.text for r, res in zip(val_records, results)}
            scores = caption_metrics(predictions, val_references, meteor=False)
            record["val"] = scores
            cider = scores["CIDEr-D"]
            if st.best_score is None or cider > st.best_score:
                st.best_score, st.epochs_without_improvement = cider, 0
                captioner.save_pretrained(run / "best")
            else:
                st.epochs_without_improvement += 1
        log(record)
        st.history[-1] = record
        if progress:
            print(json.dumps(record))
        return val_features is not None and st.epochs_without_improvement >= config.patience

    def on_checkpoint(st, optimizer, scheduler) -> None:
        save_checkpoint(run, captioner, st, optimizer, scheduler, keep=config.keep_checkpoints)

    state = train_decoder(
        captioner.model, train_features, pairs, config, progress=progress, state=state, optimizer_state=optimizer_state,
        on_checkpoint=on_checkpoint, on_epoch_end=on_epoch_end, stop_after_steps=stop_after_steps, dist=dist,
    )
    if dist.is_main and (stop_after_steps is None or state.epoch >= config.epochs):
        captioner.save_pretrained(run / "final")
        if val_features is None:
            captioner.save_pretrained(run / "best")
    return run


# -- configuration ------------------------------------------------------------------------------


def load_configs(path: str | Path | None = None, overrides: Sequence[str] = ()) -> tuple[ModelConfig, TrainConfig]:
    """Model and training configuration from an optional JSON file ({"model": {...}, "train":
    {...}}) and `section.key=value` overrides (values parsed as JSON, else taken as strings)."""
    sections: dict[str, dict] = {"model": {}, "train": {}}
    if path is not None:
        data = json.loads(Path(path).read_text())
        for name in data:
            if name not in sections:
                raise ValueError(f"{path}: unknown section {name!r}; expected 'model' and 'train'")
            sections[name].update(data[name])
    for item in overrides:
        key, sep, raw = item.partition("=")
        section, dot, field_name = key.partition(".")
        if not sep or not dot or section not in sections:
            raise ValueError(f"override {item!r} must look like model.hidden_dim=512 or train.epochs=10")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        sections[section][field_name] = value
    unknown = sorted(set(sections["train"]) - {f.name for f in dataclasses.fields(TrainConfig)})
    if unknown:
        raise ValueError(f"unknown train settings: {unknown}")
    # The model section is a saved config.json's content (format/version optional): one parser for both.
    model = ModelConfig.from_json({"format": CONFIG_FORMAT, **sections["model"]})
    return model, TrainConfig(**sections["train"])
