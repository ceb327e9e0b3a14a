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
    # Each caption's scores and attention are those it gets alone; past its end it has none.
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
    z, alpha, beta = dec.attend(feats, keys, h, hard_context="argmax")[:3]
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
    context, log_prob = dec.sample_context(many_feats, many_alpha, HardSampling(expected_prob=0.0, estimator=estimator))
    distance = (context.unsqueeze(1) - many_feats).abs().amax(-1)  # (n, L)
    assert torch.all(distance.min(-1).values < 1e-5)  # each row is one location's annotation
    loc = distance.argmin(-1)
    frequency = torch.bincount(loc, minlength=alpha.shape[1]).float() / n
    assert torch.allclose(frequency, alpha[0], atol=0.03)  # drawn as alpha says
    if estimator == "reinforce":
        assert torch.allclose(log_prob, torch.log(alpha[0, loc]))
    else:
        assert log_prob is None
    expected, log_prob = dec.sample_context(feats, alpha, HardSampling(expected_prob=1.0, estimator=estimator))
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
    full = dec(feats, caps)
    keys, state = dec.start(feats)
    for t in range(caps.shape[1] - 1):
        step = dec.step(caps[:, t], state, feats, keys)
        state = step.state
        assert torch.allclose(step.logits, full.logits[:, t], atol=1e-5)
        assert torch.allclose(step.alpha, full.alphas[:, t], atol=1e-6)


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
    for a, b in zip(
        [shared.logits, *shared.state, shared.alpha, shared.beta], [repeated.logits, *repeated.state, repeated.alpha, repeated.beta]
    ):
        assert torch.allclose(a, b, atol=1e-6)


def test_the_paper_step_has_no_runtime_settings():
    # The model is the paper as written: no runtime flags or caches live on it (captioner/runtime/).
    dec = Decoder(small_decoder_config(V))
    assert not [name for name in vars(dec) if "int8" in name or "onnx" in name or "cache" in name]
