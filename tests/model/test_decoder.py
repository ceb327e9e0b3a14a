import pytest
import torch

from captioner.model.attention import SCORE_FUNCTIONS
from captioner.model.decoder import HARD_ESTIMATORS, Decoder, HardSampling
from tests.conftest import small_decoder_config

V = 17


def _batch(B=3, T=6, L=12, D=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(B, L, D, generator=g)
    captions = torch.randint(4, V, (B, T + 1), generator=g)
    captions[:, 0] = 1  # <start>
    return feats, captions


def test_output_shapes_and_distributions():
    dec = Decoder(small_decoder_config(V))
    feats, caps = _batch()
    out = dec(feats, caps)
    assert out.logits.shape == (3, 6, V)
    assert out.alphas.shape == (3, 6, 12)
    assert out.betas.shape == (3, 6)
    assert torch.allclose(out.alphas.sum(-1), torch.ones(3, 6), atol=1e-5)
    assert torch.all((out.betas > 0) & (out.betas < 1))
    assert out.sample_log_probs is None  # soft attention samples nothing


def test_padding_does_not_change_earlier_steps():
    # A step only sees the words before it: padding appended at the end leaves earlier scores alone.
    dec = Decoder(small_decoder_config(V)).eval()
    feats, caps = _batch()
    padded = torch.cat([caps, torch.zeros(3, 4, dtype=torch.long)], dim=1)
    a, b = dec(feats, caps), dec(feats, padded)
    assert torch.allclose(a.logits, b.logits[:, : caps.shape[1] - 1], atol=1e-5)


def test_captions_of_different_lengths_in_one_batch_as_each_alone():
    # The batch shrinks as captions end (longest first); each caption's scores, attention and
    # gradients are those it gets alone, in any order of the batch.
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(V)).eval()
    feats, caps = _batch(B=4, T=7)
    for b, n in enumerate([3, 7, 1, 5]):  # targets before the padding
        caps[b, n + 1 :] = 0
    out = dec(feats, caps)
    for b, n in enumerate([3, 7, 1, 5]):
        alone = dec(feats[b : b + 1], caps[b : b + 1, : n + 1])
        assert torch.allclose(out.logits[b, :n], alone.logits[0], atol=1e-5)
        assert torch.allclose(out.alphas[b, :n], alone.alphas[0], atol=1e-6)
        assert not out.alphas[b, n:].any()
    out.logits.sum().backward()
    assert dec.gate.weight.grad is not None
    caps[:, 1:] = 0  # nothing but <pad>: the shapes still hold
    assert dec(feats, caps).logits.shape == out.logits.shape


def _all_grads_nonzero(module):
    missing = [n for n, p in module.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not missing, f"no gradient reached {missing}"


@pytest.mark.parametrize("kind", SCORE_FUNCTIONS)
def test_gradients_reach_every_parameter_soft(kind):
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(V, attention=kind)).train()
    feats, caps = _batch()
    out = dec(feats, caps)
    loss = torch.nn.functional.cross_entropy(out.logits.reshape(-1, V), caps[:, 1:].reshape(-1))
    loss = loss + ((1 - out.alphas.sum(1)) ** 2).mean()  # doubly stochastic penalty
    loss.backward()
    _all_grads_nonzero(dec)


def test_gradients_reach_every_parameter_hard():
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(V, hard_attention=True)).train()
    feats, caps = _batch(B=8)
    out = dec(feats, caps)
    assert out.sample_log_probs.shape == (8, 6) and out.entropies.shape == (8, 6)
    assert torch.all(out.sample_log_probs <= 0)
    # About half the steps use the expected context instead of a sample: their log-prob is 0.
    replaced = (out.sample_log_probs == 0).float().mean().item()
    assert 0.2 < replaced < 0.8
    ce = torch.nn.functional.cross_entropy(out.logits.reshape(-1, V), caps[:, 1:].reshape(-1), reduction="none").view(8, 6).sum(1)
    reinforce = ((ce.detach() - ce.detach().mean()) * out.sample_log_probs.sum(1)).mean()
    loss = ce.mean() + reinforce - 0.002 * out.entropies.mean()
    loss.backward()
    _all_grads_nonzero(dec)


def test_hard_attention_inference_uses_the_most_likely_location():
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(V, hard_attention=True)).eval()
    feats, _ = _batch()
    keys = dec.attention.keys(feats)
    h, c = dec.init_state(feats)
    z, alpha, beta, _ = dec._attend(feats, keys, h)
    picked = feats[torch.arange(3), alpha.argmax(-1)]
    assert torch.allclose(z, beta.unsqueeze(1) * picked)


def test_hard_sampling_checks_its_settings():
    for bad, message in ((dict(estimator="gumble"), "estimator"), (dict(expected_prob=1.5), "probability"), (dict(tau=0.0), "temperature")):
        with pytest.raises(ValueError, match=message):
            HardSampling(**bad)


@pytest.mark.parametrize("estimator", HARD_ESTIMATORS)
def test_hard_sampling_reads_a_location_drawn_from_alpha_or_the_expected_context(estimator):
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(V, hard_attention=True)).train()
    feats, _ = _batch(B=1)
    keys = dec.attention.keys(feats)
    alpha = dec.attention.weights(keys, dec.init_state(feats)[0]).detach()
    n = 4000  # one image, many draws
    many_feats, many_alpha = feats.expand(n, -1, -1), alpha.expand(n, -1)
    context, log_prob = dec._sample(many_feats, many_alpha, HardSampling(expected_prob=0.0, estimator=estimator))
    distance = (context.unsqueeze(1) - many_feats).abs().amax(-1)  # (n, L)
    assert torch.all(distance.min(-1).values < 1e-5)  # each row is one location's annotation
    loc = distance.argmin(-1)
    frequency = torch.bincount(loc, minlength=alpha.shape[1]).float() / n
    assert torch.allclose(frequency, alpha[0], atol=0.03)  # drawn as alpha says
    if estimator == "reinforce":
        assert torch.allclose(log_prob, torch.log(alpha[0, loc]))
    else:
        assert log_prob is None
    expected, log_prob = dec._sample(feats, alpha, HardSampling(expected_prob=1.0, estimator=estimator))
    assert torch.allclose(expected, torch.bmm(alpha.unsqueeze(1), feats).squeeze(1), atol=1e-6)
    assert log_prob is None if estimator == "gumbel" else torch.equal(log_prob, torch.zeros(1))


def test_straight_through_gumbel_lets_the_words_train_the_attention():
    # Reading sampled locations, the words' loss reaches the attention only through REINFORCE's
    # term; with the straight-through estimator it reaches it directly.
    grads = {}
    for estimator in HARD_ESTIMATORS:
        torch.manual_seed(0)
        dec = Decoder(small_decoder_config(V, hard_attention=True)).train()
        feats, caps = _batch(B=8)
        out = dec(feats, caps, HardSampling(expected_prob=0.0, estimator=estimator))
        assert (out.sample_log_probs is None) == (estimator == "gumbel")
        torch.nn.functional.cross_entropy(out.logits.reshape(-1, V), caps[:, 1:].reshape(-1)).backward()
        grads[estimator] = dec.attention.score.weight.grad
    assert grads["reinforce"] is None or not grads["reinforce"].any()
    assert grads["gumbel"] is not None and grads["gumbel"].abs().sum() > 0


@pytest.mark.parametrize("kind", SCORE_FUNCTIONS)
def test_step_matches_teacher_forcing(kind):
    # Decoding step by step with the true previous words gives the same scores as forward().
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(V, attention=kind)).eval()
    feats, caps = _batch()
    full = torch.log_softmax(dec(feats, caps).logits, -1)
    keys, state = dec.attention.keys(feats), dec.init_state(feats)
    for t in range(caps.shape[1] - 1):
        log_probs, state, alpha, _ = dec.step(caps[:, t], state, feats, keys)
        assert torch.allclose(log_probs, full[:, t], atol=1e-5)


@pytest.mark.parametrize("kind, hard", [(kind, False) for kind in SCORE_FUNCTIONS] + [("additive", True)])
def test_step_shares_an_images_features_among_its_rows(kind, hard):
    # Beam search passes each image's features once for its beams' rows: the same as repeating them.
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(V, attention=kind, hard_attention=hard)).eval()
    feats, caps = _batch()
    keys, (h, c) = dec.start(feats)
    h, c = torch.randn(6, h.shape[1]), torch.randn(6, c.shape[1])  # two different rows per image
    tokens = caps[:, 1:3].reshape(-1)
    shared = dec.step(tokens, (h, c), feats, keys)
    repeated = dec.step(tokens, (h, c), feats.repeat_interleave(2, 0), keys.repeat_interleave(2, 0))
    for a, b in zip([shared[0], *shared[1], *shared[2:]], [repeated[0], *repeated[1], *repeated[2:]]):
        assert torch.allclose(a, b, atol=1e-6)


def _first_step(dec, feats, caps):
    keys, state = dec.start(feats)
    return dec.step(caps[:, 0], state, feats, keys)[0]


def test_step_follows_parameter_changes():
    # The step's merged projections are rebuilt when a parameter changes (training, loading).
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(V)).eval()
    feats, caps = _batch()
    before = _first_step(dec, feats, caps)
    with torch.no_grad():
        dec.lstm_word.weight.mul_(2)
        dec.gate.bias.add_(1)
    after = _first_step(dec, feats, caps)
    assert not torch.allclose(before, after)
    assert torch.allclose(after, torch.log_softmax(dec(feats, caps).logits[:, 0], -1), atol=1e-5)
    dec.load_state_dict(Decoder(small_decoder_config(V)).state_dict())
    assert torch.allclose(_first_step(dec, feats, caps), torch.log_softmax(dec(feats, caps).logits[:, 0], -1), atol=1e-5)
    # whichever parameter changes (the cache checks only those it merges)
    for name, p in dec.named_parameters():
        with torch.no_grad():
            p.add_(0.5)
        step, forward = _first_step(dec, feats, caps), torch.log_softmax(dec(feats, caps).logits[:, 0], -1)
        assert torch.allclose(step, forward, atol=1e-5), name


def test_int8_decoding_is_close_to_float_and_can_be_switched_off():
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(V)).eval()
    feats, caps = _batch()
    exact = _first_step(dec, feats, caps)
    approx = _first_step(dec.decode_int8(), feats, caps)
    assert not torch.equal(approx, exact) and torch.allclose(approx, exact, atol=0.05)
    assert torch.equal(_first_step(dec.decode_int8(False), feats, caps), exact)


def test_int8_rows_do_not_depend_on_the_other_rows_in_the_batch():
    # torch's dynamic int8 Linear took one activation scale for the whole batch: 6 of 32 photos got
    # another caption in a batch than alone (issue 25).
    from captioner.runtime.int8_rows import RowwiseInt8Linear

    torch.manual_seed(0)
    weight, bias = torch.randn(48, 24), torch.randn(48)
    rows = torch.randn(6, 24) * torch.tensor([[0.1], [1.0], [30.0], [1.0], [0.0], [5.0]])
    product = RowwiseInt8Linear(weight, bias)
    together = product(rows)
    assert torch.equal(torch.cat([product(r[None]) for r in rows]), together)
    assert torch.equal(product(rows[:2]), together[:2])  # without the row 30x larger
    exact = rows @ weight.T + bias
    assert ((together - exact).norm(dim=1) <= 0.02 * exact.norm(dim=1) + 1e-6).all()


def test_int8_decoding_of_an_image_is_the_same_alone_and_in_a_batch():
    from captioner.decoding.search import beam_search

    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(V)).eval().decode_int8()
    feats = torch.randn(6, 12, 16) * torch.tensor([0.2, 1.0, 8.0, 1.0, 0.5, 3.0])[:, None, None]
    together = beam_search(dec, feats, beam_size=3, max_len=7)
    for i in range(6):
        alone = beam_search(dec, feats[i : i + 1], beam_size=3, max_len=7)
        assert torch.equal(alone.tokens[0], together.tokens[i])  # scores: to float rounding (batched float products)
        torch.testing.assert_close(alone.scores[0], together.scores[i], rtol=1e-5, atol=1e-5)
