"""A search's hypotheses become CaptionResults: words from the vocabulary, maps on the grid."""

import numpy as np
import torch

from captioner.decoding.search import Hypotheses
from captioner.results.from_hypotheses import caption_results, drop_unaligned_extras
from captioner.vocab import Vocabulary


def _hypotheses() -> tuple[Hypotheses, Vocabulary]:
    vocab = Vocabulary(["<pad>", "<start>", "<end>", "<unk>", "a", "red", "circle", "square"])
    end = vocab.end_id
    # Two images, two hypotheses each, up to 4 steps; the second image's best is one word long.
    tokens = torch.tensor([[[4, 5, 6, end], [4, 7, end, end]], [[7, end, end, end], [4, 6, end, end]]])
    lengths = torch.tensor([[3, 2], [1, 2]])
    alphas = torch.rand(2, 2, 4, 6)
    alphas = alphas / alphas.sum(-1, keepdim=True)
    betas = torch.rand(2, 2, 4)
    hyps = Hypotheses(
        tokens=tokens,
        lengths=lengths,
        scores=torch.tensor([[-0.5, -0.75], [-0.25, -1.5]]),
        alphas=alphas,
        betas=betas,
        finished=torch.tensor([[True, True], [False, True]]),
    )
    return hyps, vocab


def test_best_hypothesis_words_maps_and_alternatives():
    hyps, vocab = _hypotheses()
    first, second = caption_results(hyps, vocab, grid_size=(2, 3))
    assert (first.text, first.words, second.text, second.words) == ("a red circle", ["a", "red", "circle"], "square", ["square"])
    assert first.attention.shape == (3, 2, 3) and second.attention.shape == (1, 2, 3)
    assert first.attention.dtype == np.float32 and np.allclose(first.attention.sum(axis=(1, 2)), 1.0)
    # the map of word t is step t's attention, laid out row by row on the H x W grid
    assert np.array_equal(first.attention[1], hyps.alphas[0, 0, 1].numpy().reshape(2, 3))
    assert np.array_equal(second.betas, hyps.betas[1, 0, :1].numpy()) and second.betas.dtype == np.float32
    assert (first.score, second.score) == (-0.5, -0.25)
    assert (first.finished, second.finished) == (True, False)
    assert first.alternatives == [("a red circle", -0.5), ("a square", -0.75)]
    assert second.alternatives == [("square", -0.25), ("a circle", -1.5)]


def test_one_hypothesis_each_has_no_alternatives():
    hyps, vocab = _hypotheses()
    one = Hypotheses(*(getattr(hyps, f)[:, :1] for f in ("tokens", "lengths", "scores", "alphas", "betas", "finished")))
    results = caption_results(one, vocab, grid_size=(3, 2))
    assert [r.alternatives for r in results] == [[], []]
    assert results[0].attention.shape == (3, 3, 2)


def test_the_lab_variants_extras_follow_the_best_hypothesis_word_by_word():
    hyps, vocab = _hypotheses()
    hyps.centres = torch.rand(2, 2, 4, 2) * 3
    hyps.sentinel_shares = torch.rand(2, 2, 4)
    grid_maps = torch.softmax(torch.randn(2, 3, 6, 6), dim=-1)  # 2 images, 3 heads, a 2 x 3 grid
    first, second = caption_results(hyps, vocab, grid_size=(2, 3), grid_attention=grid_maps)
    assert np.array_equal(first.centres, hyps.centres[0, 0, :3].numpy()) and first.centres.dtype == np.float32
    assert np.array_equal(second.sentinel_shares, hyps.sentinel_shares[1, 0, :1].numpy())
    assert np.array_equal(second.grid_attention, grid_maps[1].numpy()) and second.grid_attention.shape == (3, 6, 6)
    # cell (1, 2) is the sixth of the 2 x 3 grid, row by row
    assert np.array_equal(first.cell_attention(1, 2), grid_maps[0, :, 5].numpy().reshape(3, 2, 3))


def test_a_model_without_the_variants_gives_none():
    hyps, vocab = _hypotheses()
    for result in caption_results(hyps, vocab, grid_size=(2, 3)):
        assert result.centres is None and result.sentinel_shares is None and result.grid_attention is None


def test_extras_of_a_caption_renamed_to_another_length_are_dropped():
    hyps, vocab = _hypotheses()
    hyps.centres, hyps.sentinel_shares = torch.rand(2, 2, 4, 2), torch.rand(2, 2, 4)
    renamed, kept = caption_results(hyps, vocab, grid_size=(2, 3))
    renamed.words = ["two", "red", "circles", "together"]  # as naming rewrites an object phrase
    for result in (renamed, kept):
        drop_unaligned_extras(result)
    assert renamed.centres is None and renamed.sentinel_shares is None
    assert kept.centres.shape == (1, 2) and kept.sentinel_shares.shape == (1,)
