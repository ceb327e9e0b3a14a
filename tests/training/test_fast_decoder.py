"""Training's fast teacher forcing against the decoder's plain forward: the same scores, attention
and gradients (float64), in any order of captions of different lengths."""

import pytest
import torch

from captioner.model.attention import SCORE_FUNCTIONS
from captioner.model.decoder import Decoder, HardSampling
from captioner.training.fast_decoder import AdditiveScores, teacher_forcing
from tests.conftest import LAB_VARIANTS, small_decoder_config

V = 17


def _batch(B=4, T=7, seed=0, lengths=(3, 7, 1, 5)):
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(B, 12, 16, generator=g, dtype=torch.float64)
    caps = torch.randint(4, V, (B, T + 1), generator=g)
    caps[:, 0] = 1
    for b, n in enumerate(lengths):  # targets before the padding
        caps[b, n + 1 :] = 0
    return feats, caps


def _outputs_and_grads(dec, forward, feats, caps, sampling=None):
    dec.zero_grad()
    out = forward(dec, feats, caps, sampling)
    valid = (caps[:, 1:] != 0).unsqueeze(-1)
    loss = (out.logits.logsumexp(-1, keepdim=True) * valid).sum() + out.alphas.pow(2).sum() + out.betas.sum()
    if out.sample_log_probs is not None:
        loss = loss + out.sample_log_probs.sum() + out.entropies.sum()
    extras = [e for e in (out.centres, out.sentinel_shares) if e is not None]  # the attention lab's variants
    loss = loss + sum(e.pow(2).sum() for e in extras)
    loss.backward()
    logits = out.logits.masked_fill(~valid, 0.0)  # past a caption's end the scores mean nothing
    return [logits, out.alphas, out.betas, *extras], {n: p.grad.clone() for n, p in dec.named_parameters() if p.grad is not None}


def _plain(dec, feats, caps, sampling):
    return dec(feats, caps, sampling)


@pytest.mark.parametrize("kind", SCORE_FUNCTIONS)
def test_fast_teacher_forcing_gives_the_plain_forwards_results_and_gradients(kind):
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(V, attention=kind)).double().train()
    feats, caps = _batch()
    plain, plain_grads = _outputs_and_grads(dec, _plain, feats, caps)
    fast, fast_grads = _outputs_and_grads(dec, teacher_forcing, feats, caps)
    for a, b in zip(fast, plain):
        torch.testing.assert_close(a, b)
    assert fast_grads.keys() == plain_grads.keys() and "lstm_context.weight" in plain_grads
    for name in plain_grads:
        torch.testing.assert_close(fast_grads[name], plain_grads[name], msg=name)


def test_fast_teacher_forcing_of_a_hard_model_reading_the_expected_context():
    # Sampling draws differ between the two (the fast one skips ended rows); with the expected
    # context always read, the results and REINFORCE terms must agree.
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(V, hard_attention=True)).double().train()
    feats, caps = _batch()
    sampling = HardSampling(expected_prob=1.0)
    plain, plain_grads = _outputs_and_grads(dec, _plain, feats, caps, sampling)
    fast, fast_grads = _outputs_and_grads(dec, teacher_forcing, feats, caps, sampling)
    for a, b in zip(fast, plain):
        torch.testing.assert_close(a, b)
    for name in plain_grads:
        torch.testing.assert_close(fast_grads[name], plain_grads[name], msg=name)


def test_only_captions_of_nothing_but_padding_still_have_the_shapes():
    dec = Decoder(small_decoder_config(V)).train()
    feats, caps = _batch()
    caps[:, 1:] = 0
    assert teacher_forcing(dec, feats.float(), caps).logits.shape == (4, 7, V)


def test_the_additive_backward_allows_one_pass_and_refuses_a_second():
    # It works in the buffer it saved: a second pass over the same graph must fail loudly, not
    # give wrong gradients.
    from captioner.model.attention import Attention

    att = Attention("additive", 6, 5, 4, 9)
    feats, h = torch.randn(3, 9, 6), torch.randn(3, 5, requires_grad=True)
    scores = AdditiveScores.scores_for(att)(2.0 * att.keys(feats), h).sum()
    scores.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        scores.backward()


@pytest.mark.parametrize("variant", LAB_VARIANTS)
def test_fast_teacher_forcing_of_the_attention_labs_variants(variant):
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(V, **LAB_VARIANTS[variant])).double().train()
    feats, caps = _batch()
    plain, plain_grads = _outputs_and_grads(dec, _plain, feats, caps)
    fast, fast_grads = _outputs_and_grads(dec, teacher_forcing, feats, caps)
    assert len(fast) == len(plain) == 3 + ("local_sigma" in LAB_VARIANTS[variant]) + ("sentinel" in LAB_VARIANTS[variant])
    for a, b in zip(fast, plain):
        torch.testing.assert_close(a, b)
    assert fast_grads.keys() == plain_grads.keys() and {"local", "sentinel", "grid_attention"} & {n.split(".")[0] for n in plain_grads}
    for name in plain_grads:
        torch.testing.assert_close(fast_grads[name], plain_grads[name], msg=name)


@pytest.mark.parametrize("overrides", [{}, LAB_VARIANTS["grid_self_attention"], LAB_VARIANTS["all"]], ids=["paper", "grid", "all"])
def test_each_image_once_gives_the_per_caption_results_and_gradients(overrides):
    # Training's batches hold several captions of one image: with image_rows, what `start`
    # computes (the grid's self-attention, keys, h_0 and c_0) runs once per image.
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(V, **overrides)).double().train()
    images, caps = _batch(B=4, lengths=(3, 7, 1, 5))
    images = images[:2].clone().requires_grad_()
    rows = torch.tensor([1, 0, 1, 1])  # image 1 has three captions, in no particular order
    per_caption = images[rows].detach().requires_grad_()
    plain, plain_grads = _outputs_and_grads(dec, _plain, per_caption, caps)
    once, once_grads = _outputs_and_grads(dec, lambda d, f, c, s: teacher_forcing(d, f, c, s, image_rows=rows), images, caps)
    for a, b in zip(once, plain):
        torch.testing.assert_close(a, b)
    assert once_grads.keys() == plain_grads.keys()
    for name in plain_grads:
        torch.testing.assert_close(once_grads[name], plain_grads[name], msg=name)
    summed = torch.zeros_like(images).index_add_(0, rows, per_caption.grad)  # an image's gradient: its captions' rows added
    torch.testing.assert_close(images.grad, summed)
