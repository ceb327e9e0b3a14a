"""How a CaptionModel runs at inference: its encoder and decoding step, transformed for speed
from a snapshot of its weights.

    runtime = InferenceRuntime(model, int8=False, onnx=False)
    annotations = runtime.encode(pixels)                 # folded_encoder (or ONNX Runtime)
    hyps = generate(runtime.step("argmax"), annotations, options)

The model (captioner/model/) is the paper as written and has no runtime settings; what runs here
is built from it on first use and kept: the encoder with batch norm folded (folded_encoder), the
decoding step with merged weights (decoding_step.MergedStep, optionally int8), or both exported to
ONNX Runtime (onnx_encoder, onnx_step). A snapshot does not follow later changes to the model's
weights: call `refresh()` after loading or training them (or make a new runtime).
"""

from __future__ import annotations

import threading
import warnings

import torch
import torch.nn as nn

from captioner.runtime import folded_encoder
from captioner.runtime.decoding_step import MergedStep
from captioner.runtime.folded_encoder import FoldedEncoder


class InferenceRuntime:
    """The inference path of `model` (a CaptionModel), built on first use and shared by threads.

    `int8` decodes with the step's merged projections in int8 (CPU only): faster, above all one
    image at a time, but a few captions can differ from the float model's. `onnx` runs the encoder
    and the step on ONNX Runtime (CPU only): the same captions to float rounding, faster one image
    at a time; with `int8`, the step's products in int8 (the fastest one image at a time).
    `fold_batch_norm=False` runs the encoder's backbone unfolded (for measuring the fold).
    The attention lab's variants (docs/attention-lab.md) run on every path like the paper's model;
    with ONNX, a self-attending grid is refined in torch once per image and the steps run on ONNX Runtime."""

    def __init__(self, model: nn.Module, int8: bool = False, onnx: bool = False, fold_batch_norm: bool = True):
        check_device(next(model.parameters()).device, int8, onnx)
        self.model, self.int8, self.onnx, self.fold_batch_norm = model, int8, onnx, fold_batch_norm
        self.encoder_onnx = onnx  # False once the encoder's export has failed (it then runs on torch)
        self._lock = threading.RLock()
        self._encoders: dict = {}  # image size -> the encoder's inference path
        self._steps: dict = {}  # hard_context -> step

    def refresh(self) -> InferenceRuntime:
        """Forget the snapshots: the next call builds them from the model's weights as they are then."""
        with self._lock:
            self._encoders, self._steps = {}, {}
        return self

    @torch.no_grad()
    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """Normalised pixels (B, 3, S, S) -> annotations (B, L, D)."""
        size = int(pixels.shape[-1])
        encoder = self._encoders.get(size) or self._encoder(size)
        return encoder(pixels)

    def step(self, hard_context: str = "expected"):
        """The decoding step a search calls (decoding.search's Stepper), reading the grid as
        `hard_context` says (hard attention: "argmax" or "expected"; a soft model ignores it)."""
        hard_context = hard_context if self.model.decoder.hard else None
        step = self._steps.get(hard_context)
        if step is None:
            with self._lock:
                step = self._steps.get(hard_context)
                if step is None:
                    step = self._steps[hard_context] = decoding_step(self.model.decoder, hard_context, int8=self.int8, onnx=self.onnx)
        return step

    def _encoder(self, size: int):
        with self._lock:  # made once when threads share the runtime
            if size in self._encoders:
                return self._encoders[size]
            encoder = self.model.encoder
            folded = None
            if self.encoder_onnx:
                from captioner.runtime.onnx_encoder import OnnxEncoder, OnnxExportError

                def backbone():
                    nonlocal folded
                    folded = FoldedEncoder(encoder, size)
                    return folded.backbone

                try:
                    run = OnnxEncoder(encoder, backbone, torch.zeros(1, 3, size, size))
                except OnnxExportError as exc:  # the option cannot serve this backbone: torch does, and says so once
                    warnings.warn(str(exc), RuntimeWarning, stacklevel=3)
                    self.encoder_onnx = False
                else:
                    self._encoders[size] = _chunked(run)
                    return self._encoders[size]
            self._encoders[size] = folded or FoldedEncoder(encoder, size, fold=self.fold_batch_norm)
            return self._encoders[size]


def check_device(device: torch.device, int8: bool = False, onnx: bool = False) -> None:
    """int8 and ONNX Runtime serve the CPU only: a ValueError that says so for another device."""
    for name, on in (("int8", int8), ("ONNX", onnx)):
        if on and torch.device(device).type != "cpu":
            raise ValueError(f"{name} inference runs on the CPU only, not on {device}")


def decoding_step(decoder: nn.Module, hard_context: str | None = "expected", int8: bool = False, onnx: bool = False):
    """The fast decoding step for `decoder` as it is now: MergedStep (int8: its products in int8),
    or on ONNX Runtime (int8: the graph's products in int8)."""
    step = MergedStep(decoder, hard_context, int8=int8 and not onnx)
    if onnx:
        from captioner.runtime.onnx_step import OnnxStep

        step = OnnxStep(step, int8=int8)
    return step


def _chunked(run):
    """The graph over a batch, CPU_CHUNK images at a time (see folded_encoder)."""
    return lambda pixels: torch.cat([run(part) for part in pixels.split(folded_encoder.CPU_CHUNK)])
