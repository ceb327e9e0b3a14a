"""The decoding step on ONNX Runtime, an option for the CPU (`Captioner(onnx=True)`, `--onnx`).

One image at a time the step is a few dozen small operations, and torch's per-operation cost and
its small-batch matrix products bound it; ONNX Runtime runs the same graph with less of both
(benchmarks/bench_beam_search.py --onnx). The search itself stays in Python (decoding/search.py).
The graph is the float `MergedStep` (decoding_step) exported, with the weights of its snapshot,
one graph per way a hard-attention model reads the grid; its results agree with torch's to float
rounding.

With int8 (`Captioner(int8=True, onnx=True)`), the graph's matrix products are dynamically quantised
by ONNX Runtime's own tool (int8 weights, activations quantised per call): a step of a large
decoder one image at a time is bound by reading its weights, and int8 reads a quarter of the
bytes. Like torch's int8 option it changes a few captions.
"""

from __future__ import annotations

import io
import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from captioner.runtime.decoding_step import extra_names
from captioner.runtime.onnx_cache import EXPORT_LOCK, cached_graph, module_settings

INPUTS = ("tokens", "h", "c", "features", "keys")
OUTPUTS = ("log_probs", "h_next", "c_next", "alpha", "beta")
# int8 quantises the products by a weight matrix; one by a vector (the additive attention's score
# v^T tanh(.)) stays float: quantising its (rows, L, A) input changed 30 more of 200 test captions.
INT8_OPS = ("MatMul", "Gemm")
# Exports happen once per graph, the first time a shared Captioner is used (the web app shares one
# between visitors): under EXPORT_LOCK (onnx_cache's, the one lock of all exports), because torch's
# exporter keeps global state and fails when two threads export at once. Whoever fills a cache of
# exported graphs holds it while checking and filling.


class _Step(nn.Module):
    """MergedStep with flat tensors in and out, for the exporter."""

    def __init__(self, step: nn.Module):
        super().__init__()
        self.step = step

    def forward(self, tokens, h, c, features, keys):
        log_probs, (h, c), alpha, beta, *extras = self.step(tokens, (h, c), features, keys)
        return log_probs, h, c, alpha, beta, *(extras[0].values() if extras else ())


def _export(step: nn.Module, example: tuple[torch.Tensor, ...], int8: bool) -> bytes:
    buffer = io.BytesIO()
    dynamic = {"tokens": {0: "rows"}, "h": {0: "rows"}, "c": {0: "rows"}, "features": {0: "images"}, "keys": {0: "images"}}
    with EXPORT_LOCK, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's notes on its own deprecation and on tracing
        torch.onnx.export(
            _Step(step).eval(),
            example,
            buffer,
            dynamo=False,
            input_names=list(INPUTS),
            output_names=[*OUTPUTS, *extra_names(step.decoder)],
            dynamic_axes=dynamic,
        )
    return _int8(buffer.getvalue()) if int8 else buffer.getvalue()


class OnnxStep:
    """A float MergedStep run by an ONNX Runtime session on the CPU (`int8`: its products by a
    weight matrix quantised by ONNX Runtime). The graph is exported at the first call, which
    gives the example inputs the exporter needs."""

    def __init__(self, step: nn.Module, int8: bool = False):
        if next(step.decoder.parameters()).device.type != "cpu":
            raise ValueError("ONNX decoding runs on the CPU only")
        self.step, self.int8, self.max_len, self.hard_context = step, int8, step.max_len, step.hard_context
        self.extra_names = extra_names(step.decoder)  # the attention lab's per-row extras, after OUTPUTS
        self.session, self.inputs = None, None

    def start(self, features: torch.Tensor):
        return self.step.start(features)

    def _session(self, example: tuple[torch.Tensor, ...]):
        with EXPORT_LOCK:  # threads sharing the model export it once, one at a time
            if self.session is None:
                settings = {
                    "hard_context": self.step.hard_context,
                    "int8": self.int8,
                    "module": module_settings(self.step.decoder),
                    "shapes": [list(t.shape[1:]) for t in example],
                    "dtypes": [str(t.dtype) for t in example],
                }
                # Exported once per machine and weights (onnx_cache): the export (and int8's quantisation) takes seconds.
                graph = cached_graph(
                    "step", settings, self.step.decoder.state_dict().items(), lambda: _export(self.step, example, self.int8)
                )
                session = cpu_session(graph)
                self.inputs = {i.name for i in session.get_inputs()}  # an input the graph never reads is dropped
                self.session = session
            return self.session

    def __call__(self, tokens, state, features, keys):
        # A grid that self-attends was refined by `start` (in torch, once per image): the graph gets its tensors.
        features, keys = self.step.decoder.image_side(features, keys)
        feed = dict(zip(INPUTS, (tokens, *state, features, keys)))
        session = self.session or self._session((tokens, *state, features, keys))
        outputs = session.run(None, {name: np.ascontiguousarray(t.numpy()) for name, t in feed.items() if name in self.inputs})
        log_probs, h, c, alpha, beta, *more = (torch.from_numpy(o) for o in outputs)
        return (log_probs, (h, c), alpha, beta) + ((dict(zip(self.extra_names, more)),) if more else ())


def cpu_session(graph: bytes):
    """An ONNX Runtime session on the CPU for a serialised graph, with as many threads as torch."""
    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - a dependency of captioner
        raise RuntimeError("ONNX Runtime inference needs the onnxruntime package (pip install onnxruntime)") from exc
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    # Threads that wait by spinning would take the cores from torch and the search in Python.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


def _int8(graph: bytes) -> bytes:
    """The graph with its products by a weight matrix dynamically quantised to int8, per tensor (per
    channel measured further from the float model here)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load_from_string(graph)
    # The merged weights are plain tensors, which the exporter writes as Constant nodes; the
    # quantiser reads weights only from initializers.
    for node in [n for n in model.graph.node if n.op_type == "Constant" and n.attribute[0].name == "value"]:
        value = onnx.TensorProto()
        value.CopyFrom(node.attribute[0].t)
        value.name = node.output[0]
        model.graph.initializer.append(value)
        model.graph.node.remove(node)
    weights = {t.name: tuple(t.dims) for t in model.graph.initializer}
    by_vector = [n.name for n in model.graph.node if n.op_type in INT8_OPS and min(weights.get(n.input[1], (2, 2)), default=1) == 1]
    silenced = logging.root.manager.disable
    logging.disable(logging.WARNING)  # the tool logs advice to run its pre-processing first
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "int8.onnx"
            quantize_dynamic(model, out, op_types_to_quantize=list(INT8_OPS), nodes_to_exclude=by_vector, weight_type=QuantType.QInt8)
            return out.read_bytes()
    finally:
        logging.disable(silenced)
