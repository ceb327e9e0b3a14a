"""The encoder at inference on ONNX Runtime, an option for the CPU (`Captioner(onnx=True)`, `--onnx`).

The default backbone, EfficientNet-Lite0, is mostly depthwise and 1x1 convolutions, which ONNX
Runtime's CPU kernels run faster than torch's: about 10 ms an image against 26 one at a time, and
about 1.5x in batches (benchmarks/bench_encoder.py --inference --onnx). The graph is the encoder's
inference path (folded_encoder: the backbone with batch norm folded, its levels resized onto the
grid and concatenated) exported with the weights it has when the runtime is made; its
annotations equal torch's to float rounding.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable

import numpy as np
import torch
import torch.nn as nn

from captioner.runtime.onnx_cache import cached_graph, module_settings
from captioner.runtime.onnx_step import EXPORT_LOCK, cpu_session


class _Annotations(nn.Module):
    """Normalised pixels -> annotations through `backbone`, for the exporter."""

    def __init__(self, encoder: nn.Module, backbone: nn.Module):
        super().__init__()
        self.encoder, self.backbone = encoder, backbone

    def forward(self, pixels):
        return self.encoder.to_annotations(self.encoder.feature_maps(pixels, self.backbone))


class OnnxExportError(RuntimeError):
    """The exporter cannot write this encoder as an ONNX graph."""


def _export(encoder: nn.Module, backbone: nn.Module, example: torch.Tensor) -> bytes:
    buffer = io.BytesIO()
    try:
        with EXPORT_LOCK, warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the exporter's notes on its own deprecation and on tracing
            torch.onnx.export(
                _Annotations(encoder, backbone).eval(),
                (example.contiguous(),),
                buffer,
                dynamo=False,
                input_names=["pixels"],
                output_names=["annotations"],
                dynamic_axes={"pixels": {0: "images"}, "annotations": {0: "images"}},
            )
    except Exception as exc:  # noqa: BLE001 - a backbone the exporter cannot trace: say which, and what to do
        first_line = f"{exc}".strip().splitlines()[0] if f"{exc}".strip() else ""
        raise OnnxExportError(
            f"this encoder ({type(backbone).__name__}) cannot run on ONNX Runtime: its export failed "
            f"({type(exc).__name__}: {first_line[:200]}); it runs on torch instead"
        ) from exc
    return buffer.getvalue()


class OnnxEncoder:
    """The encoder's annotations for a batch of pixels, from an ONNX Runtime session on the CPU."""

    def __init__(self, encoder: nn.Module, inference_backbone: Callable[[], nn.Module], example: torch.Tensor):
        """`inference_backbone()` gives the backbone to export (batch norm folded); it is called only
        when the graph is not in the cache, whose key is the encoder's own backbone weights."""
        settings = {
            "pixels": list(example.shape[1:]),
            "levels": list(encoder.levels),
            "grid_level": encoder.grid_level,
            "head_level": encoder.head_level,
            "backbone": module_settings(encoder.backbone),
            "fold_batch_norm": True,
        }
        # Exported once per machine and weights (onnx_cache): the export takes seconds.
        graph = cached_graph(
            "encoder", settings, encoder.backbone.state_dict().items(), lambda: _export(encoder, inference_backbone(), example)
        )
        self.session = cpu_session(graph)

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        (annotations,) = self.session.run(None, {"pixels": np.ascontiguousarray(pixels.numpy())})
        return torch.from_numpy(annotations)
