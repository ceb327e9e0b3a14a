"""Every decoding setting: `DecodingOptions`, with the one set of defaults that the library, the
command line and the web app share. Kept free of torch so that `captioner --help` and the web app's
first page can read the defaults without loading it; the search itself is `decoding.search`."""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass

HARD_CONTEXTS = ("argmax", "expected")


@dataclass(frozen=True)
class DecodingOptions:
    """How captions are searched for. beam_size 1 with n_best 1 is greedy decoding."""

    beam_size: int = 3
    max_len: int | None = None  # most words per caption; None: the model's own limit
    n_best: int = 1  # hypotheses returned per image (<= beam_size); > 1 fills CaptionResult.alternatives
    length_penalty: float = 1.0  # scores are sum log p / length ** length_penalty (0: no normalisation)
    block_repeats: bool = False  # never emit the same word twice in a row
    block_trigrams: bool = False  # never repeat a trigram within a caption
    # Hard-attention models only: each word reads the most likely location ("argmax", the paper's
    # deterministic approximation) or the expected context sum_i alpha_i a_i ("expected"). Expected
    # by default: on the shapes test split, beam 3, the shipped hard model scores CIDEr-D 4.094 with it
    # against 3.811 with argmax, and names every object in 87.4 % of scenes against 79.9 %.
    hard_context: str = "expected"

    def __post_init__(self) -> None:
        for name in ("beam_size", "n_best") + (("max_len",) if self.max_len is not None else ()):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool):
                raise ValueError(f"{name} must be a whole number, got {value!r}")
        if (
            not isinstance(self.length_penalty, numbers.Real)
            or isinstance(self.length_penalty, bool)
            or not math.isfinite(self.length_penalty)
        ):
            raise ValueError(f"length_penalty must be a finite number, got {self.length_penalty!r}")
        for name in ("block_repeats", "block_trigrams"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.hard_context not in HARD_CONTEXTS:
            raise ValueError(f"hard_context must be one of {HARD_CONTEXTS}, got {self.hard_context!r}")
        if self.beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {self.beam_size}")
        if not 1 <= self.n_best <= self.beam_size:
            raise ValueError(f"n_best must be between 1 and beam_size ({self.beam_size}), got {self.n_best}")
        if self.max_len is not None and self.max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {self.max_len}")

    @property
    def greedy(self) -> bool:
        return self.beam_size == 1 and self.n_best == 1

    def replace(self, **overrides) -> DecodingOptions:
        """A copy with the given fields changed; None leaves a field as it is (an option not given)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        return dataclasses.replace(self, **given) if given else self


def decoding_options(options: DecodingOptions | None = None, **overrides) -> DecodingOptions:
    """`options` (default DecodingOptions()) with the non-None keyword overrides applied."""
    return (options or DecodingOptions()).replace(**overrides)
