"""From a search's output (token ids, scores, attention per step) to one `CaptionResult` per image:
words from the vocabulary, each word's attention as an H x W map of the encoder's grid."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from captioner.results.result import CaptionResult
from captioner.vocab import Vocabulary

if TYPE_CHECKING:
    from captioner.decoding.search import Hypotheses


def caption_results(hyps: Hypotheses, vocab: Vocabulary, grid_size: tuple[int, int]) -> list[CaptionResult]:
    """One CaptionResult per image of `hyps`: its best hypothesis, the others (n-best) as alternatives."""
    H, W = grid_size
    tokens = hyps.tokens.cpu().numpy()
    lengths = hyps.lengths.cpu().numpy()
    scores = hyps.scores.float().cpu().numpy()
    alphas = hyps.alphas.float().cpu().numpy()
    betas = hyps.betas.float().cpu().numpy()
    finished = hyps.finished.cpu().numpy()
    results = []
    for b in range(tokens.shape[0]):
        texts = [" ".join(vocab.itos[t] for t in tokens[b, k, : lengths[b, k]]) for k in range(tokens.shape[1])]
        n = int(lengths[b, 0])
        words = [vocab.itos[t] for t in tokens[b, 0, :n]]
        results.append(
            CaptionResult(
                text=texts[0],
                words=words,
                attention=alphas[b, 0, :n].reshape(n, H, W).astype(np.float32),
                score=float(scores[b, 0]),
                betas=betas[b, 0, :n].astype(np.float32),
                finished=bool(finished[b, 0]),
                alternatives=[(texts[k], float(scores[b, k])) for k in range(tokens.shape[1])] if tokens.shape[1] > 1 else [],
            )
        )
    return results
