"""A search's hypotheses become CaptionResults: words from the vocabulary, maps on the grid."""

import numpy as np
import torch

from captioner.decoding.search import Hypotheses
from captioner.results.from_hypotheses import caption_results
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
