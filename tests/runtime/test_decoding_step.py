"""The runtime's decoding steps against the model's own (the contract: every fast path equals the
reference on the same inputs, to float rounding; int8 stays close)."""

import pytest
import torch

from captioner.decoding.search import beam_search
from captioner.model.attention import SCORE_FUNCTIONS
from captioner.model.decoder import Decoder
from captioner.runtime.decoding_step import MergedStep, ReferenceStep
from tests.conftest import LAB_VARIANTS, small_decoder_config

V = 17
READINGS = [(kind, False, "expected") for kind in SCORE_FUNCTIONS] + [("additive", True, "argmax"), ("additive", True, "expected")]


def _decoder(seed=0, **kw):
    torch.manual_seed(seed)
    return Decoder(small_decoder_config(V, **kw)).eval()


def _run(step, feats, tokens_per_step):
    """Every output of `step` over a few steps of given tokens, two rows per image (as beams)."""
    keys, (h, c), *_ = step.start(feats)  # a self-attending grid's maps: see the test of them
    state = (h.repeat_interleave(2, 0), c.repeat_interleave(2, 0))
    outputs = []
    for tokens in tokens_per_step:
        log_probs, state, alpha, beta = step(tokens, state, feats, keys)
        outputs += [log_probs, *state, alpha, beta]
    return outputs


@pytest.mark.parametrize("kind, hard, context", READINGS)
def test_the_merged_step_is_the_models_step(kind, hard, context):
    dec = _decoder(attention=kind, hard_attention=hard)
    feats = torch.randn(3, 12, 16)
    tokens = [torch.full((6,), 1), torch.tensor([4, 5, 6, 7, 8, 9]), torch.tensor([9, 9, 4, 4, 10, 2])]
    with torch.no_grad():
        reference = _run(ReferenceStep(dec, context), feats, tokens)
        merged = _run(MergedStep(dec, context), feats, tokens)
    for a, b in zip(merged, reference):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind, hard, context", READINGS)
def test_beam_search_finds_the_same_with_the_merged_step(kind, hard, context):
    dec = _decoder(attention=kind, hard_attention=hard)
    feats = torch.randn(4, 12, 16)
    a = beam_search(ReferenceStep(dec, context), feats, beam_size=3, max_len=7, n_best=2, hard_context=context)
    b = beam_search(MergedStep(dec, context), feats, beam_size=3, max_len=7, n_best=2, hard_context=context)
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.lengths, b.lengths)
    torch.testing.assert_close(a.scores, b.scores, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a.alphas, b.alphas, rtol=1e-5, atol=1e-5)


def test_the_merged_step_is_a_snapshot_and_the_runtime_rebuilds_it_on_refresh():
    from captioner.runtime.inference import InferenceRuntime

    class Model(torch.nn.Module):  # the runtime needs only model.decoder for its steps
        def __init__(self, decoder):
            super().__init__()
            self.decoder = decoder

    dec = _decoder()
    feats = torch.randn(2, 12, 16)
    tokens = [torch.full((4,), 1)]
    runtime = InferenceRuntime(Model(dec))
    with torch.no_grad():
        before = _run(runtime.step(), feats, tokens)[0]
        for p in dec.parameters():  # any parameter: training, loading
            p.add_(0.3)
        assert torch.equal(_run(runtime.step(), feats, tokens)[0], before)  # the snapshot as it was
        after = _run(runtime.refresh().step(), feats, tokens)[0]
        assert not torch.allclose(after, before)
        torch.testing.assert_close(after, _run(ReferenceStep(dec), feats, tokens)[0], rtol=1e-5, atol=1e-5)


def test_int8_decoding_is_close_to_float():
    dec = _decoder()
    feats = torch.randn(3, 12, 16)
    tokens = [torch.full((6,), 1), torch.tensor([4, 5, 6, 7, 8, 9])]
    with torch.no_grad():
        exact = _run(MergedStep(dec), feats, tokens)[5]  # the second step's log-probabilities
        approx = _run(MergedStep(dec, int8=True), feats, tokens)[5]
    assert not torch.equal(approx, exact) and torch.allclose(approx, exact, atol=0.05)


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
    dec = _decoder()
    step = MergedStep(dec, int8=True)
    feats = torch.randn(6, 12, 16) * torch.tensor([0.2, 1.0, 8.0, 1.0, 0.5, 3.0])[:, None, None]
    together = beam_search(step, feats, beam_size=3, max_len=7)
    for i in range(6):
        alone = beam_search(step, feats[i : i + 1], beam_size=3, max_len=7)
        assert torch.equal(alone.tokens[0], together.tokens[i])  # scores: to float rounding (batched float products)
        torch.testing.assert_close(alone.scores[0], together.scores[i], rtol=1e-5, atol=1e-5)


LAB_READINGS = [(variant, kind) for variant in LAB_VARIANTS for kind in ("additive", "general")] + [
    ("all", kind) for kind in SCORE_FUNCTIONS[2:]
]


@pytest.mark.parametrize("variant, kind", LAB_READINGS)
def test_the_merged_step_is_the_models_step_for_the_attention_labs_variants(variant, kind):
    dec = _decoder(attention=kind, **LAB_VARIANTS[variant])
    feats = torch.randn(3, 12, 16)
    tokens = [torch.full((6,), 1), torch.tensor([4, 5, 6, 7, 8, 9])]
    with torch.no_grad():
        reference, merged = (_run_with_extras(step, feats, tokens) for step in (ReferenceStep(dec), MergedStep(dec)))
    assert reference.keys() == merged.keys() and ("centres" in reference) == ("local_sigma" in LAB_VARIANTS[variant])
    for name in reference:
        torch.testing.assert_close(merged[name], reference[name], rtol=1e-5, atol=1e-5, msg=name)
    a = beam_search(ReferenceStep(dec), feats, beam_size=3, max_len=7, n_best=2)
    b = beam_search(MergedStep(dec), feats, beam_size=3, max_len=7, n_best=2)
    assert torch.equal(a.tokens, b.tokens)
    for name in ("scores", "alphas", "centres", "sentinel_shares"):
        assert (getattr(a, name) is None) == (getattr(b, name) is None)
        if getattr(a, name) is not None:
            torch.testing.assert_close(getattr(b, name), getattr(a, name), rtol=1e-5, atol=1e-5, msg=name)
    with torch.no_grad():  # int8: its products approximate, the variants' extras still given
        approx = _run_with_extras(MergedStep(dec, int8=True), feats, tokens)
    assert approx.keys() == reference.keys()
    torch.testing.assert_close(approx["log_probs"], reference["log_probs"], atol=0.05, rtol=0)


@pytest.mark.parametrize("kind", ["additive", "general"])
def test_the_merged_steps_start_keeps_the_maps_of_its_one_refinement_of_the_grid(kind, monkeypatch):
    from captioner.model.grid_self_attention import GridSelfAttention

    dec = _decoder(attention=kind, grid_self_attention_heads=2)
    feats = torch.randn(3, 12, 16)
    step = MergedStep(dec)
    runs = []
    forward = GridSelfAttention.forward
    monkeypatch.setattr(GridSelfAttention, "forward", lambda self, *a, **kw: runs.append(a[0].shape) or forward(self, *a, **kw))
    with torch.no_grad():
        keys, (h, c), more = step.start(feats)
        assert runs == [feats.shape]  # the layer ran once, for the refinement and its maps
        ref_keys, (ref_h, ref_c) = dec.start(feats)
        maps = more["grid_attention"]
        assert more.keys() == {"grid_attention"} and torch.equal(maps, step.decoder.grid_attention_maps(feats))  # its snapshot's layer
        model_maps = dec.grid_attention_maps(feats)
    # the maps, the refined grid and the state it starts from: the model's own, to float rounding
    # (not bit for bit: torch multiplies by weights that require gradients in another order)
    torch.testing.assert_close(maps, model_maps, rtol=0, atol=1e-6)
    torch.testing.assert_close(keys.annotations, ref_keys.annotations, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close((h, c), (ref_h, ref_c), rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        assert len(MergedStep(_decoder(attention=kind)).start(feats)) == 2  # no self-attention, no maps


def _run_with_extras(step, feats, tokens_per_step) -> dict:
    """`_run`'s outputs of every step by name, the variants' extras included."""
    keys, (h, c), *_ = step.start(feats)  # a self-attending grid's maps: see the test of them
    state = (h.repeat_interleave(2, 0), c.repeat_interleave(2, 0))
    outputs = []
    for tokens in tokens_per_step:
        log_probs, state, alpha, beta, *extras = step(tokens, state, feats, keys)  # extras: none, or a dict
        outputs.append({"log_probs": log_probs, "h": state[0], "c": state[1], "alpha": alpha, "beta": beta, **(extras or [{}])[0]})
    return {name: torch.stack([o[name] for o in outputs]) for name in outputs[0]}
