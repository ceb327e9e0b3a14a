import functools
import itertools

import pytest
import torch

from captioner.decoding.search import beam_search, greedy_decode
from captioner.model.decoder import Decoder
from captioner.runtime.decoding_step import ReferenceStep
from captioner.vocab import Vocabulary
from tests.conftest import small_decoder_config

V = 17


def _decoder(seed=0, **kw):
    torch.manual_seed(seed)
    return Decoder(small_decoder_config(V, **kw)).eval()


def _feats(B=5, seed=1):
    return torch.randn(B, 12, 16, generator=torch.Generator().manual_seed(seed))


def test_beam_one_equals_greedy():
    dec, feats = _decoder(), _feats()
    g = greedy_decode(ReferenceStep(dec), feats, max_len=8)
    b = beam_search(ReferenceStep(dec), feats, beam_size=1, max_len=8)
    assert len(set(g.lengths.flatten().tolist())) > 1
    for i in range(feats.shape[0]):
        n = int(g.lengths[i, 0])
        assert int(b.lengths[i, 0]) == n
        assert g.tokens[i, 0, :n].tolist() == b.tokens[i, 0, :n].tolist()
        assert torch.allclose(g.scores[i], b.scores[i], atol=1e-5)
        assert torch.allclose(g.alphas[i, 0, :n], b.alphas[i, 0, :n], atol=1e-6)


@pytest.mark.parametrize("beam_size", [2, 4])
def test_batched_equals_one_image_at_a_time(beam_size):
    dec, feats = _decoder(), _feats(B=6)
    batched = beam_search(ReferenceStep(dec), feats, beam_size=beam_size, max_len=8, n_best=2)
    assert len(set(batched.lengths.flatten().tolist())) > 1  # captions of different lengths
    for i in range(6):
        single = beam_search(ReferenceStep(dec), feats[i : i + 1], beam_size=beam_size, max_len=8, n_best=2)
        for k in range(2):
            n = int(single.lengths[0, k])
            assert int(batched.lengths[i, k]) == n
            assert batched.tokens[i, k, :n].tolist() == single.tokens[0, k, :n].tolist()
            assert torch.allclose(batched.scores[i, k], single.scores[0, k], atol=1e-5)
            assert torch.allclose(batched.alphas[i, k, :n], single.alphas[0, k, :n], atol=1e-5)


def test_no_beam_ends_before_the_limit_still_returns_the_best():
    dec = _decoder()
    with torch.no_grad():
        dec.out.bias[Vocabulary.end_id] = -1e4  # <end> never wins
    hyps = beam_search(ReferenceStep(dec), _feats(B=3), beam_size=3, max_len=5, n_best=3)
    assert hyps.lengths.tolist() == [[5, 5, 5]] * 3
    assert not hyps.finished.any()
    assert torch.all(hyps.scores[:, :-1] >= hyps.scores[:, 1:])  # best first


def _sequence_score(dec, feats, words, max_len):
    """Length-normalised log-prob of one caption, scored step by step."""
    keys, state = dec.attention.keys(feats), dec.init_state(feats)
    token, total = torch.tensor([Vocabulary.start_id]), 0.0
    targets = list(words) + ([Vocabulary.end_id] if len(words) < max_len else [])
    for w in targets:
        step = dec.step(token, state, feats, keys)
        log_probs, state = torch.log_softmax(step.logits, -1), step.state
        total += log_probs[0, w].item()
        token = torch.tensor([w])
    return total / len(targets)


def test_wide_beam_finds_the_exhaustive_optimum():
    # With 2 real words and max_len 3, every hypothesis fits in 16 beams: nothing is pruned, so
    # beam search must return the best of all captions by length-normalised score.
    torch.manual_seed(3)
    dec = Decoder(small_decoder_config(6)).eval()
    with torch.no_grad():
        dec.out.bias[Vocabulary.unk_id] = -1e4  # only words 4 and 5 and <end>
    feats = _feats(B=1, seed=7)
    best = max((_sequence_score(dec, feats, seq, 3), seq) for n in range(0, 4) for seq in itertools.product([4, 5], repeat=n))
    hyps = beam_search(ReferenceStep(dec), feats, beam_size=16, max_len=3)
    n = int(hyps.lengths[0, 0])
    assert tuple(hyps.tokens[0, 0, :n].tolist()) == best[1]
    assert hyps.scores[0, 0].item() == pytest.approx(best[0], abs=1e-5)


def test_scores_are_length_normalised():
    dec, feats = _decoder(), _feats(B=2)
    hyps = beam_search(ReferenceStep(dec), feats, beam_size=3, max_len=8)
    assert hyps.lengths[:, 0].min() > 1  # the normalisation matters only for longer captions
    for i in range(2):
        n = int(hyps.lengths[i, 0])
        words = hyps.tokens[i, 0, :n].tolist()
        assert hyps.scores[i, 0].item() == pytest.approx(_sequence_score(dec, feats[i : i + 1], words, 8), abs=1e-5)


def test_attention_keys_computed_once_per_image(monkeypatch):
    dec, feats = _decoder(), _feats(B=2)
    calls = []
    original = dec.attention.keys
    monkeypatch.setattr(dec.attention, "keys", lambda f: calls.append(f.shape) or original(f))
    with torch.no_grad():
        dec.out.bias[Vocabulary.end_id] = -1e4  # run all 8 steps
    beam_search(ReferenceStep(dec), feats, beam_size=3, max_len=8)
    greedy_decode(ReferenceStep(dec), feats, max_len=8)
    assert calls == [torch.Size([2, 12, 16])] * 2


def test_never_emits_pad_or_start():
    dec = _decoder()
    with torch.no_grad():
        dec.out.bias[Vocabulary.pad_id] = 1e3
        dec.out.bias[Vocabulary.start_id] = 1e3
    hyps = beam_search(ReferenceStep(dec), _feats(), beam_size=3, max_len=6, n_best=3)
    assert not torch.isin(hyps.tokens, torch.tensor([Vocabulary.pad_id, Vocabulary.start_id])).any()


def test_bad_arguments():
    dec, feats = _decoder(), _feats(B=1)
    with pytest.raises(ValueError, match="beam_size"):
        beam_search(ReferenceStep(dec), feats, beam_size=0)
    with pytest.raises(ValueError, match="n_best"):
        beam_search(ReferenceStep(dec), feats, beam_size=2, n_best=3)


class _StandIn:
    """A search's Stepper made by hand: `start`, and `step` as the call."""

    hard_context = None

    def __call__(self, tokens, state, features, keys):
        return self.step(tokens, state, features, keys)


class _CountdownDecoder(_StandIn):
    """A stand-in decoder whose image b says word 4 for b + 1 steps, then <end> (its state counts
    steps; feats[b, 0, 0] holds the budget)."""

    max_len = 20

    def __init__(self):
        self.rows = []

    def start(self, features):
        return features, (features[:, 0, :1].clone(), torch.zeros(features.shape[0], 1))

    def step(self, tokens, state, features, keys, hard_context="argmax"):
        self.rows.append(tokens.shape[0])
        budget, count = state
        count = count + 1
        logits = torch.full((tokens.shape[0], 8), -4.0)
        logits[:, 4] = 0.0
        logits[:, Vocabulary.end_id] = torch.where(count[:, 0] > budget[:, 0], 6.0, -6.0)
        L = features.shape[1]
        return torch.log_softmax(logits, -1), (budget, count), torch.full((tokens.shape[0], L), 1.0 / L), torch.ones(tokens.shape[0])


def test_images_leave_the_batch_when_all_their_beams_ended():
    dec = _CountdownDecoder()
    feats = torch.zeros(4, 5, 3)
    feats[:, 0, 0] = torch.tensor([3.0, 1.0, 5.0, 2.0])
    hyps = beam_search(dec, feats, beam_size=2, max_len=10)
    assert hyps.lengths[:, 0].tolist() == [3, 1, 5, 2]
    assert hyps.tokens[1, 0, :2].tolist() == [4, Vocabulary.end_id]
    # The first step runs once per image (its beams are identical), then 2 beams each.
    # Image 1 is done after step 2, image 3 after 3, image 0 after 4, image 2 after 6.
    assert dec.rows == [4, 8, 6, 4, 2, 2]


class _CountdownWithMaps(_CountdownDecoder):
    """The countdown whose start also gives per-image extras, as a self-attending grid's step does."""

    def start(self, features):
        self.maps = torch.rand(features.shape[0], 2, features.shape[1], features.shape[1])
        return (*super().start(features), {"grid_attention": self.maps})


@pytest.mark.parametrize("search", [greedy_decode, functools.partial(beam_search, beam_size=2, n_best=2)])
def test_the_per_image_extras_of_the_steps_start_reach_the_hypotheses_in_image_order(search):
    dec = _CountdownWithMaps()
    feats = torch.zeros(4, 5, 3)
    feats[:, 0, 0] = torch.tensor([3.0, 1.0, 5.0, 2.0])  # the images end at different steps
    hyps = search(dec, feats, max_len=10)
    assert hyps.lengths[:, 0].tolist() == [3, 1, 5, 2] and torch.equal(hyps.grid_attention, dec.maps)
    assert search(_CountdownDecoder(), feats, max_len=10).grid_attention is None


class _Babbler(_StandIn):
    """A stand-in decoder that prefers to repeat: after word w it likes w again best, then the
    word two before (so "4 5 4 5 ..." cycles), and <end> least. V = 8; words 4..7."""

    max_len = 12

    def start(self, features):
        n = features.shape[0]
        return features, (torch.full((n,), 4, dtype=torch.long), torch.full((n,), 5, dtype=torch.long))

    def step(self, tokens, state, features, keys, hard_context="argmax"):
        before, _ = state
        last = torch.where(tokens == Vocabulary.start_id, before, tokens)
        logits = torch.full((tokens.shape[0], 8), -3.0)
        logits[:, Vocabulary.end_id] = -8.0
        rows = torch.arange(tokens.shape[0])
        logits[rows, before] = 1.0
        logits[rows, last] = 2.0
        L = features.shape[1]
        alpha = torch.full((tokens.shape[0], L), 1.0 / L)
        return torch.log_softmax(logits, -1), (last, before), alpha, torch.ones(tokens.shape[0])


def _words(hyps, b=0, k=0):
    return hyps.tokens[b, k, : hyps.lengths[b, k]].tolist()


def _trigrams(words):
    return [tuple(words[i : i + 3]) for i in range(len(words) - 2)]


@pytest.mark.parametrize("search", ["greedy", "beam"])
def test_repetition_controls_stop_a_decoder_that_prefers_to_repeat(search):
    decode = greedy_decode if search == "greedy" else functools.partial(beam_search, beam_size=3, n_best=3)
    feats = torch.zeros(2, 5, 3)
    free = decode(_Babbler(), feats)
    words = _words(free)
    assert any(a == b for a, b in zip(words, words[1:]))  # off: it repeats itself

    no_repeats = decode(_Babbler(), feats, block_repeats=True)
    for b in range(2):
        for k in range(no_repeats.tokens.shape[1]):
            words = _words(no_repeats, b, k)
            assert len(words) >= 4 and all(a != b_ for a, b_ in zip(words, words[1:])), words
            assert len(set(_trigrams(words))) < len(_trigrams(words))  # "4 5 4 5 ..." still repeats trigrams

    no_trigrams = decode(_Babbler(), feats, block_repeats=True, block_trigrams=True)
    for b in range(2):
        for k in range(no_trigrams.tokens.shape[1]):
            words = _words(no_trigrams, b, k)
            assert len(words) >= 3 and len(set(_trigrams(words))) == len(_trigrams(words)), words
            assert all(a != b_ for a, b_ in zip(words, words[1:])), words


def test_trigram_blocking_alone_allows_immediate_repeats_but_no_repeated_trigram():
    hyps = greedy_decode(_Babbler(), torch.zeros(1, 5, 3), block_trigrams=True)
    words = _words(hyps)
    assert words[:3] == [4, 4, 4]  # repeats are allowed until they would repeat a trigram
    assert len(set(_trigrams(words))) == len(_trigrams(words)), words


def test_decoding_options_hold_the_defaults_and_check_them():
    from captioner.decoding.options import DecodingOptions, decoding_options

    default = DecodingOptions()
    assert (default.beam_size, default.n_best, default.block_repeats, default.block_trigrams) == (3, 1, False, False)
    assert decoding_options(None, beam_size=None, block_trigrams=True) == DecodingOptions(block_trigrams=True)
    with pytest.raises(ValueError, match="max_len"):
        DecodingOptions(max_len=0)


@pytest.mark.parametrize("search", [greedy_decode, functools.partial(beam_search, beam_size=3, n_best=2)])
def test_a_nan_model_never_emits_pad_or_start(search):
    # A model trained into NaN used to caption "four <pad> <pad> ... <start>" (issue 12).
    dec = _decoder()
    with torch.no_grad():
        dec.out.bias.fill_(float("nan"))
    hyps = search(ReferenceStep(dec), _feats(), max_len=6)
    for b in range(hyps.tokens.shape[0]):
        for k in range(hyps.tokens.shape[1]):
            words = hyps.tokens[b, k, : hyps.lengths[b, k]]
            assert not torch.isin(words, torch.tensor([Vocabulary.pad_id, Vocabulary.start_id])).any()
    assert bool(torch.isneginf(hyps.scores).all())  # no finite score for a model that gave no finite choice


@pytest.mark.parametrize("broken", [float("nan"), float("inf")])
def test_a_word_with_a_broken_score_is_never_chosen(broken):
    # Beam search first chooses without the NaN guards and applies them only when its choice is not
    # finite: a NaN or +inf log-probability must still count as -inf, one image or a batch.
    dec = _Babbler()
    plain = dec.step

    def step(tokens, state, features, keys, hard_context="argmax"):
        log_probs, state, alpha, beta = plain(tokens, state, features, keys)
        log_probs[:, 6] = broken  # a word the babbler would otherwise never say
        return log_probs, state, alpha, beta

    dec.step = step
    for feats in (torch.zeros(1, 3, 2), torch.zeros(3, 3, 2)):
        hyps = beam_search(dec, feats, beam_size=3, n_best=3, max_len=6)
        assert not (hyps.tokens == 6).any()
        assert bool(torch.isfinite(hyps.scores).all())


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(length_penalty=float("nan")), "length_penalty"),
        (dict(length_penalty=float("inf")), "length_penalty"),
        (dict(length_penalty="1"), "length_penalty"),
        (dict(beam_size=1.5), "beam_size"),
        (dict(beam_size=True), "beam_size"),
        (dict(max_len=2.0), "max_len"),
        (dict(n_best="2"), "n_best"),
        (dict(block_repeats="no"), "block_repeats"),
    ],
)
def test_decoding_options_refuse_wrong_types_and_non_finite_values(bad, message):
    from captioner.decoding.options import DecodingOptions

    with pytest.raises(ValueError, match=message):
        DecodingOptions(**bad)


@pytest.mark.parametrize("search", [greedy_decode, functools.partial(beam_search, beam_size=3, n_best=2)])
def test_a_hard_model_reads_the_argmax_location_or_the_expected_context(search):
    from captioner.decoding.options import DecodingOptions

    hard = _decoder(seed=3, hard_attention=True)
    soft = _decoder(seed=0)
    soft.load_state_dict(hard.state_dict())  # the same weights; only how the grid is read differs
    feats = _feats(B=4)
    expected = search(ReferenceStep(hard, "expected"), feats, max_len=8, hard_context="expected")
    as_soft = search(ReferenceStep(soft), feats, max_len=8)
    assert torch.equal(expected.tokens, as_soft.tokens) and torch.allclose(expected.scores, as_soft.scores)
    assert DecodingOptions().hard_context == "expected"  # the default
    assert torch.equal(search(ReferenceStep(hard), feats, max_len=8).tokens, expected.tokens)
    argmax = search(ReferenceStep(hard, "argmax"), feats, max_len=8, hard_context="argmax")  # one location per word
    assert not torch.allclose(argmax.scores, expected.scores)
    # a soft model reads its expected context whatever the option says
    assert torch.equal(search(ReferenceStep(soft), feats, max_len=8, hard_context="argmax").tokens, as_soft.tokens)
    with pytest.raises(ValueError, match="reads the grid by 'expected'"):  # a step made for another reading
        search(ReferenceStep(hard), feats, max_len=8, hard_context="argmax")
    with pytest.raises(ValueError, match="hard_context must be one of"):
        DecodingOptions(hard_context="mean")


@pytest.mark.parametrize("sentinel_context", ["lstm_and_output", "output"])
@pytest.mark.parametrize("search", [greedy_decode, functools.partial(beam_search, beam_size=3, n_best=2)])
def test_the_attention_labs_extras_follow_each_hypothesis(search, sentinel_context):
    # Each hypothesis's centres, sentinel shares and maps are those its own words get by teacher
    # forcing: the search kept the values of the beam each word came from.
    dec = _decoder(local_sigma=1.5, sentinel=True, sentinel_context=sentinel_context, grid_self_attention_heads=2)
    feats = _feats(4)
    hyps = search(ReferenceStep(dec), feats, max_len=6)
    B, n, T = hyps.tokens.shape
    assert hyps.centres.shape == (B, n, T, 2) and hyps.sentinel_shares.shape == (B, n, T)
    for k in range(n):
        captions = torch.cat([torch.full((B, 1), Vocabulary.start_id), hyps.tokens[:, k]], dim=1)
        forced = dec(feats, captions)
        for b in range(B):
            m = int(hyps.lengths[b, k]) + int(hyps.finished[b, k])  # its words and its <end>
            torch.testing.assert_close(hyps.alphas[b, k, :m], forced.alphas[b, :m], rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(hyps.centres[b, k, :m], forced.centres[b, :m], rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(hyps.sentinel_shares[b, k, :m], forced.sentinel_shares[b, :m], rtol=1e-5, atol=1e-6)


def test_the_papers_model_gives_no_extras():
    hyps = beam_search(ReferenceStep(_decoder()), _feats(2), beam_size=2, max_len=5)
    assert hyps.centres is None and hyps.sentinel_shares is None
