"""Self-attention over the grid before decoding: the 2-D positional encodings by hand, the layer
written out by hand, its maps, and step decoding == teacher forcing over the refined grid."""

import math

import pytest
import torch

from captioner.model.config import ModelConfig
from captioner.model.decoder import Decoder, RefinedGrid
from captioner.model.grid_self_attention import GridSelfAttention, positional_encoding
from captioner.training.config import load_configs
from tests.conftest import caption_batch, parameters_without_gradient, small_decoder_config, step_by_step

V = 17


def test_positional_encodings_by_hand():
    # 2 rows x 3 columns, 8 channels: 4 for the row, 4 for the column, each sin/cos at rates 1 and 1/100.
    pe = positional_encoding(2, 3, 8)
    assert pe.shape == (6, 8)
    cell = 1 * 3 + 2  # row 1, column 2
    expected = [math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01), math.sin(2), math.cos(2), math.sin(0.02), math.cos(0.02)]
    torch.testing.assert_close(pe[cell], torch.tensor(expected))
    torch.testing.assert_close(pe[0], torch.tensor([0.0, 1.0] * 4))
    assert torch.equal(pe[1, :4], pe[2, :4]) and not torch.equal(pe[1, 4:], pe[2, 4:])  # same row, other column
    with pytest.raises(ValueError, match="divisible by 4"):
        positional_encoding(2, 3, 6)


@pytest.mark.parametrize("heads", [1, 2])
def test_the_layer_written_out(heads):
    torch.manual_seed(0)
    layer = GridSelfAttention(8, heads, (2, 3)).eval()
    a = torch.randn(2, 6, 8)
    refined, maps = layer(a, maps=True)
    x = a + positional_encoding(2, 3, 8)
    w, b = layer.attention.in_proj_weight, layer.attention.in_proj_bias
    q, k, v = x @ w[:8].T + b[:8], x @ w[8:16].T + b[8:16], a @ w[16:].T + b[16:]
    d = 8 // heads
    split = lambda t: t.view(2, 6, heads, d).transpose(1, 2)  # noqa: E731
    weights = torch.softmax(split(q) @ split(k).transpose(-1, -2) / math.sqrt(d), -1)  # (2, heads, 6, 6)
    attended = (weights @ split(v)).transpose(1, 2).reshape(2, 6, 8) @ layer.attention.out_proj.weight.T + layer.attention.out_proj.bias
    norm = torch.nn.functional.layer_norm
    first = norm(a + attended, (8,), layer.norm_attended.weight, layer.norm_attended.bias)
    expected = norm(first + layer.feed_forward(first), (8,), layer.norm_out.weight, layer.norm_out.bias)
    torch.testing.assert_close(maps, weights)
    torch.testing.assert_close(refined, expected)
    torch.testing.assert_close(layer(a), refined)
    torch.testing.assert_close(maps.sum(-1), torch.ones(2, heads, 6))


def test_heads_must_divide_the_features():
    with pytest.raises(ValueError, match="grid_self_attention_heads"):
        GridSelfAttention(12, 5, (2, 3))
    with pytest.raises(ValueError, match="grid_self_attention_heads"):
        Decoder(small_decoder_config(V, grid_self_attention_heads=3))  # 16 features


def _decoder(heads=2, **kw):
    torch.manual_seed(0)
    return Decoder(small_decoder_config(V, grid_self_attention_heads=heads, **kw)).eval()


def test_start_refines_the_grid_once_and_the_steps_read_it():
    dec = _decoder()
    feats = torch.randn(3, 12, 16)
    keys, (h, c) = dec.start(feats)
    assert isinstance(keys, RefinedGrid)
    refined = dec.grid_attention(feats)
    torch.testing.assert_close(keys.annotations, refined)
    torch.testing.assert_close(keys.keys, dec.attention.keys(refined))
    torch.testing.assert_close(h, dec.init_state(refined)[0])
    step = dec.step(torch.full((3,), 1), (h, c), feats, keys)
    attended = dec.attend(refined, keys.keys, h)
    torch.testing.assert_close(step.alpha, attended.alpha)
    # The encoder's annotations passed to the step are not read: the refined ones are.
    torch.testing.assert_close(dec.step(torch.full((3,), 1), (h, c), torch.zeros_like(feats), keys).logits, step.logits)
    assert dec.grid_attention_maps(feats).shape == (3, 2, 12, 12)
    assert keys[1:].annotations.shape == (2, 12, 16)  # indexed by image, as a search drops images


def test_step_matches_teacher_forcing_and_shares_an_images_rows():
    dec = _decoder(4)
    feats, caps = caption_batch(V)
    full = dec(feats, caps)
    for t, step in enumerate(step_by_step(dec, feats, caps)):
        torch.testing.assert_close(step.logits, full.logits[:, t], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(step.alpha, full.alphas[:, t], atol=1e-6, rtol=1e-5)
    keys, _ = dec.start(feats)
    h, c = torch.randn(6, 24), torch.randn(6, 24)  # two rows per image, as beams
    shared = dec.step(caps[:, 1].repeat_interleave(2), (h, c), feats, keys)
    repeated = dec.step(caps[:, 1].repeat_interleave(2), (h, c), feats.repeat_interleave(2, 0), keys.repeat_interleave(2, 0))
    torch.testing.assert_close(shared.logits, repeated.logits)


def test_gradients_reach_the_layer():
    dec = _decoder()
    assert not parameters_without_gradient(dec, dec.grid_attention, V)


def test_the_paper_model_has_no_maps_to_show():
    with pytest.raises(ValueError, match="grid_self_attention_heads is 0"):
        Decoder(small_decoder_config(V)).grid_attention_maps(torch.randn(1, 12, 16))


@pytest.mark.parametrize("value", [-1, 65, 2.5, True])
def test_a_bad_head_count_is_refused_naming_the_field(value):
    with pytest.raises(ValueError, match="grid_self_attention_heads"):
        ModelConfig.from_json({"format": "captioner-model", "grid_self_attention_heads": value})


def test_training_sets_it_from_the_command_line():
    model, _ = load_configs(overrides=["model.grid_self_attention_heads=4"])
    assert model.grid_self_attention_heads == 4 and ModelConfig.from_json(model.to_json()) == model
