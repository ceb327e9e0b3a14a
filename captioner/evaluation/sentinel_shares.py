"""The visual sentinel's mean share beta-hat (docs/attention-lab.md) on two kinds of words of a
sentinel model's captions: the function words "a", "of", "and", "the", and the words that name one
of the scene's objects (grounded as the attention figures ground them: grounding_for(record.dataset)).
Issue 23's bar: higher on the function words, which the language model can write without looking.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from captioner.data.grounding import grounding_for

FUNCTION_WORDS = frozenset({"a", "of", "and", "the"})


def shares_by_word_kind(records: Sequence, results: Sequence) -> dict[str, list[float]]:
    """Each function word's and each object word's share, over records (with `objects` and
    `dataset`) and their CaptionResults (with `sentinel_shares`): {"function": [...], "object": [...]}."""
    shares: dict[str, list[float]] = {"function": [], "object": []}
    for record, result in zip(records, results):
        if result.sentinel_shares is None:
            raise ValueError("a caption without sentinel shares: not a sentinel model's (or its words were rewritten)")
        object_words = {j for p in grounding_for(record.dataset).ground_caption(result.words, record.objects) for j in p.word_indices}
        for j, word in enumerate(result.words):
            if word in FUNCTION_WORDS:
                shares["function"].append(float(result.sentinel_shares[j]))
            elif j in object_words:
                shares["object"].append(float(result.sentinel_shares[j]))
    return shares


def mean_shares(records: Sequence, results: Sequence) -> dict:
    """The mean share on each kind (None where no word of that kind was written) and how many words it averages."""
    shares = shares_by_word_kind(records, results)
    means = {kind: float(np.mean(values)) if values else None for kind, values in shares.items()}
    return {**means, "function_words": len(shares["function"]), "object_words": len(shares["object"])}
