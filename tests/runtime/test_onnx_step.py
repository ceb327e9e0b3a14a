"""The decoding step on ONNX Runtime (runtime.inference.decoding_step(onnx=True)): the same search
results as the model's own step."""

import pytest
import torch

from captioner.decoding.search import beam_search
from captioner.model.attention import SCORE_FUNCTIONS
from captioner.model.decoder import Decoder
from captioner.runtime.decoding_step import MergedStep, ReferenceStep
from captioner.runtime.inference import decoding_step
from tests.conftest import LAB_VARIANTS, small_decoder_config

V = 17


def _search(step, feats, **options):
    return beam_search(step, feats, beam_size=3, max_len=7, n_best=2, **options)


def _same(a, b):
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.lengths, b.lengths)
    torch.testing.assert_close(a.scores, b.scores, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a.alphas, b.alphas, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a.betas, b.betas, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kind, hard, context", [(k, False, "argmax") for k in SCORE_FUNCTIONS] + [("additive", True, "argmax"), ("additive", True, "expected")]
)
def test_onnx_decoding_finds_what_torch_finds(kind, hard, context):
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(V, attention=kind, hard_attention=hard)).eval()
    feats = torch.randn(4, 12, 16)
    reference = ReferenceStep(dec, context)
    onnx = decoding_step(dec, context, onnx=True)
    _same(_search(onnx, feats, hard_context=context), _search(reference, feats, hard_context=context))
    _same(_search(onnx, feats[:1], hard_context=context), _search(reference, feats[:1], hard_context=context))


def test_int8_on_onnx_runtime_quantises_the_weight_matrices_and_stays_close_to_float(monkeypatch):
    import onnx

    from captioner.runtime import onnx_step

    graphs = []
    quantise = onnx_step._int8
    monkeypatch.setattr(onnx_step, "_int8", lambda graph: graphs.append(quantise(graph)) or graphs[-1])
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(V)).eval()
    feats = torch.randn(4, 12, 16)
    step = MergedStep(dec)
    keys, state = step.start(feats)
    tokens = torch.tensor([1, 4, 5, 6])
    with torch.no_grad():
        reference = step(tokens, state, feats, keys)[0]
        quantised = decoding_step(dec, int8=True, onnx=True)(tokens, state, feats, keys)[0]
    (graph,) = graphs
    products = [n for n in onnx.load_from_string(graph).graph.node if n.op_type in ("MatMul", "Gemm", "MatMulInteger")]
    # the products by a weight matrix are int8; the attention's by its score vector, and the
    # context's by the features (an input), stay float
    assert sum(n.op_type == "MatMulInteger" for n in products) == 5
    assert len([n for n in products if n.op_type != "MatMulInteger"]) == 2, [n.name for n in products]
    assert (reference - quantised).abs().max() > 1e-6  # it is int8, not the float step
    assert (reference - quantised).abs().mean() < 0.1 and (reference - quantised).abs().max() < 0.5
    # int8 off: the float graph again
    with torch.no_grad():
        float_graph = decoding_step(dec, onnx=True)(tokens, state, feats, keys)[0]
    torch.testing.assert_close(float_graph, reference, rtol=1e-5, atol=1e-5)


def test_onnx_decoding_runs_on_the_cpu_only():
    dec = Decoder(small_decoder_config(V)).to("meta")
    with pytest.raises(ValueError, match="CPU only"):
        decoding_step(dec, onnx=True)


@pytest.mark.parametrize("variant", LAB_VARIANTS)
def test_onnx_decoding_of_the_attention_labs_variants_finds_what_torch_finds(variant):
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(V, **LAB_VARIANTS[variant])).eval()
    feats = torch.randn(4, 12, 16)
    a, b = _search(decoding_step(dec, onnx=True), feats), _search(ReferenceStep(dec), feats)
    _same(a, b)
    for name in ("centres", "sentinel_shares"):
        assert (getattr(a, name) is None) == (getattr(b, name) is None)
        if getattr(b, name) is not None:
            torch.testing.assert_close(getattr(a, name), getattr(b, name), rtol=1e-5, atol=1e-5)
    if variant in ("all", "sentinel_output"):  # int8 on ONNX Runtime: close, with the extras
        c = _search(decoding_step(dec, onnx=True, int8=True), feats)
        assert c.sentinel_shares.shape == b.sentinel_shares.shape and (c.centres is None) == (b.centres is None)
        assert b.centres is None or c.centres.shape == b.centres.shape
        torch.testing.assert_close(c.scores, b.scores, atol=0.1, rtol=0)
