"""The decoding step on ONNX Runtime (Decoder.decode_onnx): the same search results as torch's."""

import pytest
import torch

from captioner.model.attention import SCORE_FUNCTIONS
from captioner.model.beam_search import beam_search
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


@pytest.mark.parametrize("kind, hard, context", [(k, False, "argmax") for k in SCORE_FUNCTIONS] + [("additive", True, "argmax"), ("additive", True, "expected")])
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


def test_onnx_and_int8_are_not_combined():
    dec = Decoder(small_decoder_config(V)).eval().decode_onnx().decode_int8()
    with pytest.raises(ValueError, match="int8 or ONNX"):
        _search(dec, torch.randn(1, 12, 16))
