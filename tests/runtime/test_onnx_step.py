"""The decoding step on ONNX Runtime (Decoder.decode_onnx): the same search results as torch's."""

import pytest
import torch

from captioner.decoding.search import beam_search
from captioner.model.attention import SCORE_FUNCTIONS
from captioner.model.decoder import Decoder
from tests.conftest import small_decoder_config

V = 17


def _search(dec, feats, **options):
    return beam_search(dec, feats, beam_size=3, max_len=7, n_best=2, **options)


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
    reference = _search(dec, feats, hard_context=context)
    dec.decode_onnx()
    _same(_search(dec, feats, hard_context=context), reference)
    _same(_search(dec, feats[:1], hard_context=context), _search(dec.decode_onnx(False), feats[:1], hard_context=context))


def test_onnx_decoding_follows_parameter_changes_and_leaves_training_alone():
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(V)).eval().decode_onnx()
    feats = torch.randn(2, 12, 16)
    first = _search(dec, feats)
    with torch.no_grad():
        dec.out.bias.add_(torch.randn(V))
    changed = _search(dec, feats)
    assert not torch.allclose(first.scores, changed.scores)
    _same(changed, _search(dec.decode_onnx(False), feats))
    # with autograd on (training), torch's own step runs and gradients flow
    dec.decode_onnx(True).train()
    keys, state = dec.start(feats)
    log_probs = dec.step(torch.tensor([1, 1]), state, feats, keys)[0]
    assert log_probs.requires_grad


def test_int8_on_onnx_runtime_quantises_the_weight_matrices_and_stays_close_to_float(monkeypatch):
    import onnx

    from captioner.runtime import onnx_step

    graphs = []
    quantise = onnx_step._int8
    monkeypatch.setattr(onnx_step, "_int8", lambda graph: graphs.append(quantise(graph)) or graphs[-1])
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(V)).eval()
    feats = torch.randn(4, 12, 16)
    keys, state = dec.start(feats)
    tokens = torch.tensor([1, 4, 5, 6])
    with torch.no_grad():
        reference = dec.step(tokens, state, feats, keys)[0]
        quantised = dec.decode_onnx().decode_int8().step(tokens, state, feats, keys)[0]
    (graph,) = graphs
    products = [n for n in onnx.load_from_string(graph).graph.node if n.op_type in ("MatMul", "Gemm", "MatMulInteger")]
    # the products by a weight matrix are int8; the attention's by its score vector, and the
    # context's by the features (an input), stay float
    assert sum(n.op_type == "MatMulInteger" for n in products) == 5
    assert {n.name for n in products if n.op_type != "MatMulInteger"} == {"/score/MatMul", "/MatMul"}
    assert (reference - quantised).abs().max() > 1e-6  # it is int8, not the float step
    assert (reference - quantised).abs().mean() < 0.1 and (reference - quantised).abs().max() < 0.5
    # int8 off: the float graph again
    with torch.no_grad():
        torch.testing.assert_close(dec.decode_int8(False).step(tokens, state, feats, keys)[0], reference, rtol=1e-5, atol=1e-5)
