"""Training checkpoints: run/checkpoint-<step>/ holds a model directory plus the trainer's state
(optimizer, schedule, random state, position in the epoch), written atomically; run/latest names
the newest complete one. Nothing is pickled."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import torch

from captioner.files import atomic_write
from captioner.model.checkpoint import save_model
from captioner.training.loop import TrainState

LATEST = "latest"  # file in the run folder naming the newest complete checkpoint


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
    atomic_write(run / LATEST, name)
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
