"""One list of everyday names for every recogniser's answer, so that their evidence adds up.

The ImageNet classifier's 1000 classes already add up to everyday names (names.py: every dog breed
is "dog"). The stamp recogniser names the decoder's 201 objects, many of them things ImageNet
names too ("cat", "hammer", "koala"), under the same name or a synonym from the decoder's objects
list. Mapped onto one list of names, the classifier on the attended region, the classifier on the
whole picture and the stamp recogniser each give a distribution over the same names; their
weighted mean (a mixture of experts with fixed weights, calibrated on data/photos-tuning) is sure
of a name two of them agree on even when neither alone is, and less sure of a name only one of
them gives. The stamp recogniser's "nothing" adds to no name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

SOURCES = ("attended", "whole", "stamps")  # the classifier where the word looked, on the whole picture; the stamps


@dataclass(frozen=True)
class Weights:
    """How much each recogniser's distribution counts in the mixture (they sum to 1)."""

    attended: float = 0.4
    whole: float = 0.2
    stamps: float = 0.4

    def __post_init__(self):
        values = (self.attended, self.whole, self.stamps)
        if min(values) < 0 or abs(sum(values) - 1.0) > 1e-6:
            raise ValueError(f"mixture weights must be >= 0 and sum to 1, got {values}")


@dataclass
class PooledName:
    """The mixture's surest name, its probability, and what each recogniser gave that name."""

    name: str
    probability: float
    parts: dict[str, float]  # source -> its weighted share of `probability`

    @property
    def source(self) -> str:
        """ "stamps" when the stamp recogniser gave most of the probability, else "classifier"."""
        classifier = self.parts.get("attended", 0.0) + self.parts.get("whole", 0.0)
        return "stamps" if self.parts.get("stamps", 0.0) > classifier else "classifier"


class NameEvidence:
    """The ImageNet classifier's everyday names (`imagenet_names`, the columns its name
    probabilities come in) followed by the stamp recogniser's names that are none of them; each
    stamp name maps to the ImageNet name it equals or one of its `synonyms` equals."""

    def __init__(self, imagenet_names: Sequence[str], stamp_names: Sequence[str], synonyms: Mapping[str, set], nothing: str = "nothing"):
        self.names = list(imagenet_names)
        self.n_imagenet = len(self.names)
        index = {n: j for j, n in enumerate(self.names)}
        columns = []
        for s in stamp_names:
            if s == nothing:
                columns.append(None)
                continue
            same = [s] + sorted(synonyms.get(s, ()))
            j = next((index[n] for n in same if n in index), None)
            if j is None:
                index[s] = j = len(self.names)
                self.names.append(s)
            columns.append(j)
        self.index = index  # name -> its position in `names`
        self.stamp_matrix = np.zeros((len(stamp_names), len(self.names)), dtype=np.float32)
        for i, j in enumerate(columns):
            if j is not None:
                self.stamp_matrix[i, j] = 1.0

    def distributions(self, attended: np.ndarray, whole: np.ndarray, stamps: np.ndarray | None) -> dict[str, np.ndarray]:
        """Each recogniser's probabilities over `names`: the classifier's name probabilities
        (attended region, whole picture) padded with zeros for the stamps' own names."""
        pad = len(self.names) - self.n_imagenet
        out = {
            "attended": np.concatenate([np.asarray(attended, np.float32), np.zeros(pad, np.float32)]),
            "whole": np.concatenate([np.asarray(whole, np.float32), np.zeros(pad, np.float32)]),
        }
        if stamps is not None:
            out["stamps"] = np.asarray(stamps, np.float32) @ self.stamp_matrix
        return out

    def probability(self, distributions: Mapping[str, np.ndarray], weights: Weights, names: Sequence[str]) -> float:
        """The weighted mean's probability of the first of `names` (a word and its synonyms) on
        the list, 0 when none is."""
        j = next((self.index[n] for n in names if n in self.index), None)
        if j is None:
            return 0.0
        present = {s: getattr(weights, s) for s in SOURCES if s in distributions}
        total = sum(present.values())
        return float(sum(w / total * distributions[s][j] for s, w in present.items())) if total > 0 else 0.0

    def pooled(self, distributions: Mapping[str, np.ndarray], weights: Weights) -> PooledName:
        """The surest name of the weighted mean of the distributions (a recogniser that is
        missing gives its weight to the others, in proportion)."""
        present = {s: getattr(weights, s) for s in SOURCES if s in distributions}
        total = sum(present.values())
        if total <= 0:
            raise ValueError(f"no recogniser with weight among {sorted(distributions)}")
        mixture = sum(w / total * distributions[s] for s, w in present.items())
        j = int(np.argmax(mixture))
        parts = {s: float(w / total * distributions[s][j]) for s, w in present.items()}
        return PooledName(self.names[j], float(mixture[j]), parts)
