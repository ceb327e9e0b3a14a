"""The recurrence's weights get their gradient in one product (captioner.training.deferred_grad.py):
the same gradients as a product a step."""

import torch

from captioner.model.decoder import Decoder, HardSampling
from captioner.training import fast_decoder
from captioner.training.deferred_grad import StepProducts
from captioner.training.fast_decoder import teacher_forcing
from tests.conftest import small_decoder_config


def _recurrence(project, x):
    out, h = 0.0, x
    for t in range(6):
        h = torch.tanh(project(h[: x.shape[0] - t]))  # the batch shrinks, as captions end
        out = out + (h * (t + 1)).sum()
    return out


def test_step_products_give_the_gradients_of_a_product_a_step():
    torch.manual_seed(0)
    weight = torch.randn(5, 5, dtype=torch.float64, requires_grad=True)
    x = torch.randn(8, 5, dtype=torch.float64, requires_grad=True)
    _recurrence(lambda h: h @ weight.t(), x).backward()
    expected = weight.grad.clone(), x.grad.clone()
    weight.grad = x.grad = None
    for _ in range(2):  # a second forward and backward starts afresh
        _recurrence(StepProducts(weight), x).backward()
        torch.testing.assert_close((weight.grad, x.grad), expected)
        weight.grad = x.grad = None


def _gradients(dec, feats, captions):
    dec.zero_grad()
    out = teacher_forcing(dec, feats, captions, HardSampling())
    (out.logits.logsumexp(-1).sum() + out.alphas.pow(2).sum()).backward()
    return {name: p.grad.clone() for name, p in dec.named_parameters() if p.grad is not None}


def test_the_decoder_trains_with_the_same_gradients(monkeypatch):
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(17)).double().train()
    dec.dropout.p = 0.0
    feats = torch.randn(4, 12, 16, dtype=torch.float64)
    captions = torch.tensor([[1, 5, 6, 7, 2, 0], [1, 8, 2, 0, 0, 0], [1, 4, 4, 4, 4, 2], [1, 9, 10, 2, 0, 0]])
    deferred = _gradients(dec, feats, captions)
    monkeypatch.setattr(fast_decoder, "StepProducts", lambda weight: lambda x: x @ weight.t())
    plain = _gradients(dec, feats, captions)
    assert deferred.keys() == plain.keys() and "lstm_context.weight" in plain and "lstm_hidden.weight" in plain
    for name in plain:
        torch.testing.assert_close(deferred[name], plain[name], msg=name)
