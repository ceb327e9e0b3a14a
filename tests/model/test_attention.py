"""Each score function against a small example computed by hand."""

import math

import pytest
import torch

from captioner.model.attention import SCORE_FUNCTIONS, Attention

# Two locations with 2-d annotations, hidden size 2.
A = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])  # (1, L=2, D=2)
H = torch.tensor([[0.5, 1.0]])  # (1, 2)


def _set(linear, weight, bias=None):
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(weight))
        if bias is not None:
            linear.bias.copy_(torch.tensor(bias))


def _softmax(xs):
    m = max(xs)
    e = [math.exp(x - m) for x in xs]
    return [v / sum(e) for v in e]


def test_additive():
    att = Attention("additive", 2, 2, 2, 2)
    _set(att.key, [[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0])
    _set(att.query, [[1.0, 0.0], [0.0, -1.0]])
    _set(att.score, [[1.0, 2.0]])
    # location 1: tanh([1 + .5, 0 - 1]) ; location 2: tanh([0 + .5, 2 - 1])
    e1 = math.tanh(1.5) + 2 * math.tanh(-1.0)
    e2 = math.tanh(0.5) + 2 * math.tanh(1.0)
    keys = att.keys(A)
    assert att.scores(keys, H)[0].tolist() == pytest.approx([e1, e2], abs=1e-6)
    assert att.weights(keys, H)[0].tolist() == pytest.approx(_softmax([e1, e2]), abs=1e-6)


def test_dot_uses_raw_annotations_when_sizes_match():
    att = Attention("dot", 2, 2, 8, 2)
    assert isinstance(att.key, torch.nn.Identity)
    assert att.scores(att.keys(A), H)[0].tolist() == pytest.approx([0.5, 2.0])


def test_dot_is_general_when_the_sizes_differ():
    """Luong's dot product h^T a_i needs h and a_i of one size. When they differ (the shapes models:
    annotations 472, LSTM 256) "dot" maps a_i into h's space by a learned W, which is "general",
    h^T W a_i: the same parameters, drawn alike from one seed, and the same scores. This is why the
    attention lab's "dot" and "general" rows are identical to the last digit (docs/attention-lab.md)."""
    modules = {}
    for kind in ("dot", "general"):
        torch.manual_seed(0)
        modules[kind] = Attention(kind, 5, 3, 4, 6)
    dot, general = modules["dot"].state_dict(), modules["general"].state_dict()
    assert list(dot) == list(general) == ["key.weight"] and torch.equal(dot["key.weight"], general["key.weight"])
    feats, h = torch.randn(2, 6, 5), torch.randn(2, 3)
    scores = [att.scores(att.keys(feats), h) for att in modules.values()]
    assert torch.equal(scores[0], scores[1])


def test_scaled_dot_divides_by_sqrt_d():
    att = Attention("scaled_dot", 2, 2, 8, 2)
    assert att.scores(att.keys(A), H)[0].tolist() == pytest.approx([0.5 / math.sqrt(2), 2.0 / math.sqrt(2)])


def test_general():
    att = Attention("general", 2, 2, 8, 2)
    _set(att.key, [[0.0, 1.0], [1.0, 0.0]])  # W swaps the two coordinates
    # W a1 = [0, 1] -> h.Wa1 = 1.0 ; W a2 = [2, 0] -> 1.0
    assert att.scores(att.keys(A), H)[0].tolist() == pytest.approx([1.0, 1.0])


def test_cosine_with_key_strength():
    att = Attention("cosine", 2, 2, 2, 2)
    _set(att.key, [[1.0, 0.0], [0.0, 1.0]])
    _set(att.query, [[1.0, 0.0], [0.0, 1.0]])
    _set(att.strength, [[0.0, 0.0]], [0.0])  # strength = softplus(0) + 1 = ln 2 + 1
    s = math.log(2.0) + 1.0
    norm = math.sqrt(0.5**2 + 1.0)
    expected = [s * 0.5 / norm, s * 1.0 / norm]  # cos with [1,0] and with [0,1]
    assert att.scores(att.keys(A), H)[0].tolist() == pytest.approx(expected, abs=1e-6)


def test_location_ignores_content():
    att = Attention("location", 2, 2, 8, 2)
    _set(att.query, [[1.0, 0.0], [0.0, 3.0]], [0.1, -0.1])
    other = torch.tensor([[[5.0, 5.0], [-1.0, 7.0]]])
    assert att.scores(att.keys(A), H)[0].tolist() == pytest.approx([0.6, 2.9])
    assert torch.equal(att.scores(att.keys(other), H), att.scores(att.keys(A), H))


@pytest.mark.parametrize("kind", SCORE_FUNCTIONS)
def test_weights_are_distributions(kind):
    torch.manual_seed(0)
    att = Attention(kind, 6, 5, 4, 9)
    feats, h = torch.randn(3, 9, 6), torch.randn(3, 5)
    alpha = att.weights(att.keys(feats), h)
    assert alpha.shape == (3, 9)
    assert torch.all(alpha >= 0)
    assert torch.allclose(alpha.sum(-1), torch.ones(3))


def test_unknown_score_function_named_in_error():
    with pytest.raises(ValueError, match="'bilinear'"):
        Attention("bilinear", 2, 2, 2, 2)


def test_the_fast_additive_scores_are_the_textbook_formula():
    # The runtime's decoding step and training's teacher forcing compute v^T tanh(W a_i + U h)
    # through sigmoid on doubled keys; here both against the module's textbook form, with
    # gradients in float64 (training's form has its own backward). Two query rows per image, as beams.
    from captioner.model.decoder import Decoder
    from captioner.runtime.decoding_step import MergedStep
    from captioner.training.fast_decoder import AdditiveScores
    from tests.conftest import small_decoder_config

    torch.manual_seed(0)
    att = Attention("additive", 6, 5, 4, 9).double()
    feats = torch.randn(3, 9, 6, dtype=torch.float64, requires_grad=True)
    h = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(6, 9, dtype=torch.float64)
    textbook = att.scores(att.keys(feats), h)
    by_hand = att.score(torch.tanh(att.key(feats).repeat_interleave(2, 0) + att.query(h).unsqueeze(1))).squeeze(-1)
    torch.testing.assert_close(textbook, by_hand)
    training = AdditiveScores.scores_for(att)(2.0 * att.keys(feats), h)
    torch.testing.assert_close(training, textbook)
    inputs = [feats, h, *att.parameters()]
    for a, b in zip(torch.autograd.grad((training * weight).sum(), inputs), torch.autograd.grad((textbook * weight).sum(), inputs)):
        torch.testing.assert_close(a, b)
    dec = Decoder(small_decoder_config(11, feature_dim=6, hidden_dim=5, attention_dim=4, grid_size=(3, 3))).double()
    dec.attention = att
    step = MergedStep(dec)
    with torch.no_grad():
        keys, _ = step.start(feats)
        torch.testing.assert_close(step._additive_scores(keys, h), textbook.detach())
