"""Training checkpoints: run/checkpoint-<step>/ holds a model directory plus the trainer's state
(optimizer, schedule, random state, position in the epoch), written atomically; run/latest names
the newest complete one. Nothing is pickled."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shutil
import warnings
from pathlib import Path

import torch

from captioner.files import atomic_write
from captioner.model.model import CaptionModel
from captioner.modeldir.checkpoint import CheckpointError, load_model, save_model
from captioner.training.loop import TrainState
from captioner.vocab import Vocabulary

LATEST = "latest"  # file in the run folder naming the newest complete checkpoint


def save_checkpoint(run: Path, model: CaptionModel, vocab: Vocabulary, state: TrainState, optimizer, scheduler, keep: int = 2) -> Path:
    """Write run/checkpoint-<step>/ (model directory + trainer state) and point run/latest at it.
    The folder is completed under a temporary name and renamed, so a kill leaves either the old
    or the new checkpoint, never half of one. Nothing is pickled."""
    from safetensors.torch import save_file

    name = f"checkpoint-{state.global_step:08d}"
    tmp = run / (name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_model(model, vocab, tmp)
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
    atomic_write(run / LATEST, name)
    checkpoints = sorted(p for p in run.glob("checkpoint-*") if p.is_dir() and not p.name.endswith(".tmp"))
    for old in checkpoints[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(run: Path, device) -> tuple[CaptionModel, Vocabulary, TrainState, dict]:
    """The newest complete checkpoint of a run: (model, vocabulary, train state, optimizer state).

    `latest` must name a checkpoint folder of this run. A checkpoint that cannot be read (a
    truncated or garbled file, values a trainer state cannot hold) is named in a warning and the
    previous one is used; with none left, CheckpointError names every damaged file."""
    pointer = run / LATEST
    if not pointer.is_file():
        raise FileNotFoundError(f"{run}: no checkpoint to resume from (no '{LATEST}' file)")
    name = pointer.read_text(errors="replace").strip()
    if not _CHECKPOINT_NAME.fullmatch(name) or not (run / name).is_dir():
        raise CheckpointError(
            f"{pointer}: '{LATEST}' names {name[:200]!r}, which is not a checkpoint of this run (checkpoint-<step> in {run})"
        )
    older = sorted((p for p in run.glob("checkpoint-*") if _CHECKPOINT_NAME.fullmatch(p.name) and p.name < name), reverse=True)
    failures = []
    for folder in [run / name, *older]:
        try:
            loaded = _load_one(folder, device)
        except CheckpointError as exc:
            failures.append(str(exc))
            continue
        if failures:
            warnings.warn(f"{'; '.join(failures)}; resuming from the previous complete checkpoint, {folder}", stacklevel=2)
        return loaded
    raise CheckpointError(f"{run}: no checkpoint can be resumed: " + "; ".join(failures))


_CHECKPOINT_NAME = re.compile(r"checkpoint-\d{8}")


def _load_one(folder: Path, device) -> tuple[CaptionModel, Vocabulary, TrainState, dict]:
    from safetensors.torch import load_file

    model, vocab = load_model(folder, device=device)  # CheckpointError naming the file
    try:
        info = json.loads((folder / "trainer.json").read_text())
        state = _train_state(info["state"])
        param_groups, optimizer_values, scheduler = info["param_groups"], info["optimizer_state"], info["scheduler"]
        if not isinstance(param_groups, list) or not isinstance(optimizer_values, dict) or not isinstance(scheduler, dict):
            raise ValueError("param_groups, optimizer_state or scheduler of the wrong type")
    except (OSError, ValueError, TypeError, KeyError, RecursionError) as exc:
        raise CheckpointError(f"{folder / 'trainer.json'}: cannot be read ({type(exc).__name__}: {exc})"[:1000]) from exc
    try:
        tensors = load_file(str(folder / "trainer.safetensors"))
        opt_state: dict = {}
        for key, value in tensors.items():
            if key.startswith("optimizer."):
                _, idx, name = key.split(".", 2)
                opt_state.setdefault(int(idx), {})[name] = value.to(device) if name != "step" else value
        for idx, values in optimizer_values.items():
            opt_state.setdefault(int(idx), {}).update(values)
        rng = tensors["rng.torch"]
    except Exception as exc:  # noqa: BLE001 - SafetensorError, a missing key, a bad index: this file is damaged
        raise CheckpointError(f"{folder / 'trainer.safetensors'}: cannot be read ({type(exc).__name__}: {exc})"[:1000]) from exc
    torch.set_rng_state(rng)
    if torch.cuda.is_available():
        cuda_states = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
        if cuda_states:
            torch.cuda.set_rng_state_all(cuda_states)
    optimizer = {"optimizer": {"state": opt_state, "param_groups": param_groups}, "scheduler": scheduler}
    return model, vocab, state, optimizer


def _train_state(data: dict) -> TrainState:
    """A TrainState from its JSON, every value checked (ValueError/TypeError otherwise)."""
    state = TrainState(**data)
    for key in ("epoch", "step_in_epoch", "global_step", "epochs_without_improvement"):
        value = getattr(state, key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{key} must be a whole number >= 0, got {value!r}")
    for key in ("baseline", "best_score"):
        value = getattr(state, key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)):
            raise ValueError(f"{key} must be a finite number or null, got {value!r}")
    if state.phase not in ("xe", "scst"):
        raise ValueError(f"phase must be 'xe' or 'scst', got {state.phase!r}")
    if not isinstance(state.history, list):
        raise ValueError(f"history must be a list, got {type(state.history).__name__}")
    return state
