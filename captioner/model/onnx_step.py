"""The decoding step on ONNX Runtime, an option for the CPU (`Captioner(onnx=True)`, `--onnx`).

One image at a time the step is a few dozen small operations, and torch's per-operation cost and
its small-batch matrix products bound it; ONNX Runtime runs the same graph with less of both
(benchmarks/bench_beam_search.py --onnx). The search itself stays in Python (beam_search.py). The
graph is `Decoder.step` exported with the decoder's current weights (exported again when they
change), one graph per way a hard-attention model reads the grid; its results agree with torch's
to float rounding.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import torch
import torch.nn as nn

INPUTS = ("tokens", "h", "c", "features", "keys")
OUTPUTS = ("log_probs", "h_next", "c_next", "alpha", "beta")


class _Step(nn.Module):
    """Decoder.step with flat tensors in and out, for the exporter."""

    def __init__(self, decoder: nn.Module, hard_context: str):
        super().__init__()
        self.decoder, self.hard_context = decoder, hard_context

    def forward(self, tokens, h, c, features, keys):
        log_probs, (h, c), alpha, beta = self.decoder.step(tokens, (h, c), features, keys, self.hard_context)
        return log_probs, h, c, alpha, beta


class OnnxStep:
    """`Decoder.step` for one way of reading the grid, run by an ONNX Runtime session on the CPU."""

    def __init__(self, decoder: nn.Module, hard_context: str, example: tuple[torch.Tensor, ...]):
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - a dependency of captioner
            raise RuntimeError("ONNX decoding needs the onnxruntime package (pip install onnxruntime)") from exc
        buffer = io.BytesIO()
        was_training = decoder.training
        step = _Step(decoder, hard_context).eval()
        dynamic = {"tokens": {0: "rows"}, "h": {0: "rows"}, "c": {0: "rows"}, "features": {0: "images"}, "keys": {0: "images"}}
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the exporter's notes on its own deprecation and on tracing
            torch.onnx.export(step, example, buffer, dynamo=False, input_names=list(INPUTS), output_names=list(OUTPUTS),
                              dynamic_axes=dynamic)
        decoder.train(was_training)
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        # Threads that wait by spinning would take the cores from torch's encoder and the search.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}  # an input the graph never reads is dropped

    def __call__(self, tokens, state, features, keys):
        feed = dict(zip(INPUTS, (tokens, *state, features, keys)))
        outputs = self.session.run(None, {name: np.ascontiguousarray(t.numpy()) for name, t in feed.items() if name in self.inputs})
        log_probs, h, c, alpha, beta = (torch.from_numpy(o) for o in outputs)
        return log_probs, (h, c), alpha, beta
