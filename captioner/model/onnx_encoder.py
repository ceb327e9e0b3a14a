"""The encoder at inference on ONNX Runtime, an option for the CPU (`Captioner(onnx=True)`, `--onnx`).

The default backbone, EfficientNet-Lite0, is mostly depthwise and 1x1 convolutions, which ONNX
Runtime's CPU kernels run faster than torch's: about 10 ms an image against 26 one at a time, and
about 1.5x in batches (benchmarks/bench_encoder.py --inference --onnx). The graph is the encoder's
inference path (the backbone with batch norm folded, its levels resized onto the grid and
concatenated) exported with its current weights, and exported again when they change; its
annotations equal torch's to float rounding.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import torch
import torch.nn as nn

from captioner.model.onnx_step import _exporting, cpu_session


class _Annotations(nn.Module):
    """Normalised pixels -> annotations through `backbone`, for the exporter."""

    def __init__(self, encoder: nn.Module, backbone: nn.Module):
        super().__init__()
        self.encoder, self.backbone = encoder, backbone

    def forward(self, pixels):
        return self.encoder._annotations(self.encoder._levels(pixels, self.backbone))


class OnnxEncoder:
    """The encoder's annotations for a batch of pixels, from an ONNX Runtime session on the CPU."""

    def __init__(self, encoder: nn.Module, backbone: nn.Module, example: torch.Tensor):
        buffer = io.BytesIO()
        try:
            with _exporting(), warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")  # the exporter's notes on its own deprecation and on tracing
                torch.onnx.export(_Annotations(encoder, backbone).eval(), (example.contiguous(),), buffer, dynamo=False,
                                  input_names=["pixels"], output_names=["annotations"],
                                  dynamic_axes={"pixels": {0: "images"}, "annotations": {0: "images"}})
        except Exception as exc:  # noqa: BLE001 - a backbone the exporter cannot trace: say which, and what to do
            raise RuntimeError(f"this encoder ({type(backbone).__name__}) cannot run on ONNX Runtime: its export failed "
                               f"({type(exc).__name__}: {exc}); caption without the ONNX option") from exc
        self.session = cpu_session(buffer.getvalue())

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        (annotations,) = self.session.run(None, {"pixels": np.ascontiguousarray(pixels.numpy())})
        return torch.from_numpy(annotations)
