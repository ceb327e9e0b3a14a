"""Adaptive attention with a visual sentinel: the sentinel by hand, its share of the softmax by
hand, the mixed context, where it goes (the LSTM and the output, or the output only: Lu's wiring),
and step decoding == teacher forcing."""

import pytest
import torch

from captioner.model.attention import SCORE_FUNCTIONS
from captioner.model.config import ModelConfig
from captioner.model.decoder import Decoder
from captioner.model.sentinel import sentinel_share
from captioner.training.config import load_configs
from tests.conftest import caption_batch, parameters_without_gradient, small_decoder_config, step_by_step

CONTEXTS = ["lstm_and_output", "output"]

V = 17


def _decoder(kind="additive", **kw):
    torch.manual_seed(0)
    return Decoder(small_decoder_config(V, attention=kind, sentinel=True, **kw)).eval()


def test_the_share_by_hand():
    # exp of the scores 1, 2 (cells) and 3 (sentinel): the sentinel's share is 3 / 6.
    cells = torch.log(torch.tensor([[1.0, 2.0], [1.0, 1.0]]))
    sentinel = torch.log(torch.tensor([3.0, 2.0]))
    torch.testing.assert_close(sentinel_share(cells, sentinel), torch.tensor([0.5, 0.5]))
    torch.testing.assert_close(sentinel_share(torch.zeros(1, 4), torch.tensor([-100.0])), torch.tensor([0.0]))


def test_the_sentinel_by_hand():
    dec = _decoder()
    s = dec.sentinel
    emb, h, c = torch.randn(5, 16), torch.randn(5, 24), torch.randn(5, 24)
    gate = torch.sigmoid(emb @ s.gate_word.weight.T + s.gate_word.bias + h @ s.gate_hidden.weight.T)
    torch.testing.assert_close(s.vector(emb, h, c), (gate * torch.tanh(c)) @ s.project.weight.T)


@pytest.mark.parametrize("kind", SCORE_FUNCTIONS)
def test_the_sentinel_competes_with_the_cells_in_one_softmax(kind):
    dec = _decoder(kind)
    feats = torch.randn(2, 12, 16)
    keys, (h, c) = dec.start(feats)
    emb = torch.randn(2, 16)
    sentinel = dec.sentinel.vector(emb, h, c)
    attended = dec.attend(feats, keys, h, **dec.attention_inputs(emb, h, c))
    # The softmax over L + 1 scores, the sentinel last, written out.
    scores = torch.cat([dec.attention.scores(keys, h), dec.sentinel.score(dec.attention, sentinel, h).unsqueeze(1)], 1)
    both = torch.softmax(scores, -1)
    share = both[:, -1]
    torch.testing.assert_close(attended.sentinel_share, share)
    torch.testing.assert_close(attended.alpha, both[:, :-1] / (1 - share).unsqueeze(1))  # the map over the cells sums to 1
    mixed = torch.bmm(both[:, :-1].unsqueeze(1), feats).squeeze(1) + share.unsqueeze(1) * sentinel
    torch.testing.assert_close(attended.context, attended.beta.unsqueeze(1) * mixed)  # Xu's gate on the mixed context
    assert attended.output_context is None and attended.for_output() is attended.context  # the LSTM and the output read it


def test_lus_wiring_sends_the_mixed_context_to_the_output_only():
    dec = _decoder(sentinel_context="output")
    feats = torch.randn(2, 12, 16)
    keys, (h, c) = dec.start(feats)
    emb = torch.randn(2, 16)
    attended = dec.attend(feats, keys, h, **dec.attention_inputs(emb, h, c))
    beta, share = attended.beta.unsqueeze(1), attended.sentinel_share.unsqueeze(1)
    image = torch.bmm(attended.alpha.unsqueeze(1), feats).squeeze(1)  # sum_i alpha_i a_i, alpha renormalised over the cells
    torch.testing.assert_close(attended.context, beta * image)  # the LSTM's input: Xu's z_t
    sentinel = dec.sentinel.vector(emb, h, c)
    torch.testing.assert_close(attended.for_output(), beta * (share * sentinel + (1 - share) * image))


def test_with_lus_wiring_the_lstm_runs_as_the_papers_model_would():
    # The sentinel changes the words' scores only: the states are those of the paper's decoder with
    # the same weights, so what the model reads while writing a word reaches the next words whatever
    # the sentinel's share.
    lu, paper = _decoder(sentinel_context="output"), Decoder(small_decoder_config(V))
    paper.load_state_dict({k: v for k, v in lu.state_dict().items() if not k.startswith("sentinel.")})
    feats, caps = caption_batch(V)
    for a, b in zip(step_by_step(lu, feats, caps), step_by_step(paper.eval(), feats, caps)):
        torch.testing.assert_close(a.state, b.state)
        torch.testing.assert_close(a.alpha, b.alpha)
        assert not torch.allclose(a.logits, b.logits)


def test_it_is_scored_as_a_cell_would_be():
    # Additive: v^T tanh(W s + b + U h), the formula of the cells.
    dec = _decoder()
    a = dec.attention
    s, h = torch.randn(3, 16), torch.randn(3, 24)
    expected = torch.tanh(s @ a.key.weight.T + a.key.bias + h @ a.query.weight.T) @ a.score.weight.squeeze(0)
    torch.testing.assert_close(dec.sentinel.score(a, s, h), expected)


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize("kind, hard", [(kind, False) for kind in SCORE_FUNCTIONS] + [("additive", True)])
def test_step_matches_teacher_forcing(kind, hard, context):
    dec = _decoder(kind, hard_attention=hard, sentinel_context=context)
    feats, caps = caption_batch(V, lengths={1: 2})
    full = dec(feats, caps)
    for t, step in enumerate(step_by_step(dec, feats, caps)):
        live = caps[:, t + 1] != 0
        torch.testing.assert_close(step.logits[live], full.logits[live, t], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(step.sentinel_share[live], full.sentinel_shares[live, t])
    shares = full.sentinel_shares[caps[:, 1:] != 0]
    assert ((shares > 0) & (shares < 1)).all() and not full.sentinel_shares[1, 2:].any()
    assert full.centres is None


@pytest.mark.parametrize("context", CONTEXTS)
def test_gradients_reach_the_sentinel(context):
    dec = _decoder(sentinel_context=context)
    assert not parameters_without_gradient(dec, dec.sentinel, V)


def test_location_scores_give_the_sentinel_its_own_score():
    assert _decoder("location").sentinel.location_score is not None
    assert _decoder("dot").sentinel.location_score is None


@pytest.mark.parametrize("value", [1, "yes", None])
def test_a_bad_value_is_refused_naming_the_field(value):
    with pytest.raises(ValueError, match="sentinel"):
        ModelConfig.from_json({"format": "captioner-model", "sentinel": value})


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"sentinel": True, "sentinel_context": "input"}, "sentinel_context must be one of lstm_and_output, output"),
        ({"sentinel": True, "sentinel_context": None}, "sentinel_context must be one of"),
        ({"sentinel_context": "output"}, "sentinel_context 'output' needs sentinel true"),
        ({"sentinel": False, "sentinel_context": "output"}, "sentinel_context 'output' needs sentinel true"),
    ],
)
def test_a_bad_sentinel_context_is_refused_naming_the_field(fields, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig.from_json({"format": "captioner-model", **fields})
    with pytest.raises(ValueError, match=message):  # a config built in code, checked when the decoder is built
        Decoder(small_decoder_config(V, **fields))


def test_training_sets_it_from_the_command_line():
    model, _ = load_configs(overrides=["model.sentinel=true"])
    assert model.sentinel is True and model.sentinel_context == "lstm_and_output" and ModelConfig.from_json(model.to_json()) == model
    model, _ = load_configs(overrides=["model.sentinel=true", "model.sentinel_context=output"])
    assert model.sentinel_context == "output" and ModelConfig.from_json(model.to_json()) == model
