"""Local attention (Luong's local-p on the grid): the Gaussian window by hand, the windowed and
renormalised weights, the centre's formula, and step decoding == teacher forcing."""

import math

import pytest
import torch

from captioner.model.attention import SCORE_FUNCTIONS
from captioner.model.config import ModelConfig
from captioner.model.decoder import Decoder
from captioner.model.local_attention import LocalWindow
from captioner.training.config import load_configs
from tests.conftest import caption_batch, parameters_without_gradient, small_decoder_config, step_by_step

V = 17


def _decoder(kind="additive", sigma=1.0, **kw):
    torch.manual_seed(0)
    return Decoder(small_decoder_config(V, attention=kind, local_sigma=sigma, **kw)).eval()


def test_the_window_by_hand():
    # A 2x2 grid: cell centres (0.5, 0.5), (0.5, 1.5), (1.5, 0.5), (1.5, 1.5); the centre on the
    # first: squared distances 0, 1, 1, 2; with sigma 2, log G = -d^2 / 8.
    window = LocalWindow(hidden_dim=3, attention_dim=4, grid_size=(2, 2), sigma=2.0)
    log_g = window.log_window(torch.tensor([[0.5, 0.5], [2.0, 0.0]]))
    torch.testing.assert_close(log_g[0], torch.tensor([0.0, -1 / 8, -1 / 8, -2 / 8]))
    # (2, 0), the bottom-left corner: d^2 = 2.25 + 0.25, 2.25 + 2.25, 0.25 + 0.25, 0.25 + 2.25
    torch.testing.assert_close(log_g[1], -torch.tensor([2.5, 4.5, 0.5, 2.5]) / 8)


def test_the_centre_by_hand_and_on_the_image():
    window = LocalWindow(hidden_dim=3, attention_dim=4, grid_size=(3, 5), sigma=1.0)
    h = torch.randn(6, 3) * 10
    expected = torch.tensor([3.0, 5.0]) / (1 + torch.exp(-(torch.tanh(h @ window.predict.weight.T) @ window.position.weight.T)))
    centre = window.centre(h)
    torch.testing.assert_close(centre, expected)
    assert (centre >= 0).all() and (centre[:, 0] <= 3).all() and (centre[:, 1] <= 5).all()


@pytest.mark.parametrize("kind", SCORE_FUNCTIONS)
def test_weights_are_the_scores_softmax_times_the_window_renormalised(kind):
    dec = _decoder(kind, sigma=0.8)
    feats = torch.randn(2, 12, 16)
    keys, (h, c) = dec.start(feats)
    centre = dec.local.centre(h)
    attended = dec.attend(feats, keys, h, centre=centre)
    weights = torch.softmax(dec.attention.scores(keys, h), -1) * torch.exp(dec.local.log_window(centre))
    torch.testing.assert_close(attended.alpha, weights / weights.sum(-1, keepdim=True))
    assert torch.equal(attended.centre, centre)
    z = attended.beta.unsqueeze(1) * torch.bmm(attended.alpha.unsqueeze(1), feats).squeeze(1)
    torch.testing.assert_close(attended.context, z)


def test_a_narrow_window_looks_at_the_cell_under_the_centre():
    dec = _decoder(sigma=0.05)
    feats = torch.randn(3, 12, 16)
    keys, (h, c) = dec.start(feats)
    h = torch.randn(3, h.shape[1]) * 3
    centre = dec.local.centre(h)
    alpha = dec.attend(feats, keys, h, centre=centre).alpha
    under = centre.floor().long().clamp_max(torch.tensor([2, 3]))  # (row, column) of the cell holding p_t
    assert torch.equal(alpha.argmax(-1), under[:, 0] * 4 + under[:, 1])
    assert (alpha.max(-1).values > 0.99).all()


@pytest.mark.parametrize("kind", SCORE_FUNCTIONS)
def test_step_matches_teacher_forcing(kind):
    dec = _decoder(kind)
    feats, caps = caption_batch(V, lengths={2: 3})  # a shorter caption: nothing past its end
    full = dec(feats, caps)
    for t, step in enumerate(step_by_step(dec, feats, caps)):
        live = caps[:, t + 1] != 0
        torch.testing.assert_close(step.logits[live], full.logits[live, t], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(step.alpha[live], full.alphas[live, t], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(step.centre[live], full.centres[live, t])
    assert not full.centres[2, 3:].any()
    assert full.sentinel_shares is None


def test_gradients_reach_the_window():
    dec = _decoder()
    assert not parameters_without_gradient(dec, dec.local, V)


def test_the_paper_model_has_no_window():
    dec = Decoder(small_decoder_config(V))
    assert dec.local is None and dec.lab_options() == []
    assert not any(name.startswith("local") for name in dec.state_dict())


@pytest.mark.parametrize("value", [0, -1.0, "wide", True, math.nan, 1e9])
def test_a_bad_sigma_is_refused_naming_the_field(value):
    with pytest.raises(ValueError, match="local_sigma"):
        ModelConfig.from_json({"format": "captioner-model", "local_sigma": value})


def test_training_sets_it_from_the_command_line():
    model, _ = load_configs(overrides=["model.local_sigma=1.5", "model.attention=dot"])
    assert model.local_sigma == 1.5 and model.attention == "dot"
    assert ModelConfig.from_json(model.to_json()) == model
