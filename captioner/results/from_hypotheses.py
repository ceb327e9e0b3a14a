"""From a search's output (token ids, scores, attention per step) to one `CaptionResult` per image:
words from the vocabulary, each word's attention as an H x W map of the encoder's grid, and what
the attention lab's variants add (local attention's centres, the sentinel's shares, the grid
self-attention's maps)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from captioner.results.result import CaptionResult
from captioner.vocab import Vocabulary

if TYPE_CHECKING:
    import torch

    from captioner.decoding.search import Hypotheses


def caption_results(
    hyps: Hypotheses, vocab: Vocabulary, grid_size: tuple[int, int], grid_attention: torch.Tensor | None = None
) -> list[CaptionResult]:
    """One CaptionResult per image of `hyps`: its best hypothesis, the others (n-best) as alternatives.
    `grid_attention`: the images' grid self-attention maps (B, heads, L, L), for a model that has it
    (Hypotheses.grid_attention; left out where results are kept by the thousand, as in validation:
    600 kB an image for 4 heads on a 14 x 14 grid)."""
    H, W = grid_size
    tokens = hyps.tokens.cpu().numpy()
    lengths = hyps.lengths.cpu().numpy()
    scores = hyps.scores.float().cpu().numpy()
    alphas = hyps.alphas.float().cpu().numpy()
    betas = hyps.betas.float().cpu().numpy()
    finished = hyps.finished.cpu().numpy()
    centres = _array(hyps.centres)
    shares = _array(hyps.sentinel_shares)
    grid_maps = _array(grid_attention)
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
                centres=centres[b, 0, :n] if centres is not None else None,
                sentinel_shares=shares[b, 0, :n] if shares is not None else None,
                grid_attention=grid_maps[b] if grid_maps is not None else None,
            )
        )
    return results


def _array(values: torch.Tensor | None) -> np.ndarray | None:
    return values.float().cpu().numpy() if values is not None else None


def drop_unaligned_extras(result: CaptionResult) -> None:
    """Forget the per-word centres and sentinel shares of a result whose words were rewritten into
    a different number of words (naming object words): they no longer say which word they belong to."""
    for name in ("centres", "sentinel_shares"):
        values = getattr(result, name)
        if values is not None and len(values) != len(result.words):
            setattr(result, name, None)
