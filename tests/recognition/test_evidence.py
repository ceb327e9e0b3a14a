"""One list of names for the recognisers' answers (captioner/recognition/evidence.py)."""

from __future__ import annotations

import numpy as np
import pytest

from captioner.recognition.evidence import NameEvidence, Weights


@pytest.fixture
def evidence():
    # ImageNet's names, then the stamps' own: "motorbike" is ImageNet's "motorcycle" by a synonym
    return NameEvidence(["cat", "dog", "motorcycle"], ["nothing", "cat", "pliers", "motorbike"], {"motorbike": {"motorcycle"}})


def test_stamp_names_join_the_imagenet_names_they_equal_or_are_synonyms_of(evidence):
    assert evidence.names == ["cat", "dog", "motorcycle", "pliers"]
    d = evidence.distributions([0.2, 0.3, 0.1], [0.1, 0.1, 0.1], [0.4, 0.3, 0.2, 0.1])
    assert d["stamps"].tolist() == pytest.approx([0.3, 0.0, 0.1, 0.2])  # "nothing" adds to no name
    assert d["attended"].tolist() == pytest.approx([0.2, 0.3, 0.1, 0.0])


def test_two_unsure_recognisers_that_agree_make_a_sure_name(evidence):
    d = evidence.distributions([0.45, 0.5, 0.0], [0.45, 0.5, 0.0], [0.0, 0.9, 0.05, 0.05])
    alone = evidence.pooled(d, Weights(0.5, 0.5, 0.0))
    assert (alone.name, alone.probability) == ("dog", pytest.approx(0.5))
    both = evidence.pooled(d, Weights(0.25, 0.25, 0.5))
    assert (both.name, both.source) == ("cat", "stamps") and both.probability == pytest.approx(0.675)
    assert both.parts["stamps"] == pytest.approx(0.45)
    assert evidence.probability(d, Weights(0.25, 0.25, 0.5), ["kitten", "cat"]) == pytest.approx(0.675)
    assert evidence.probability(d, Weights(0.25, 0.25, 0.5), ["tiger"]) == 0.0


def test_a_missing_recogniser_gives_its_weight_to_the_others(evidence):
    d = evidence.distributions([0.1, 0.8, 0.1], [0.1, 0.8, 0.1], None)
    best = evidence.pooled(d, Weights(0.25, 0.25, 0.5))
    assert (best.name, best.source) == ("dog", "classifier") and best.probability == pytest.approx(0.8)


def test_mixture_weights_are_checked():
    with pytest.raises(ValueError, match="sum to 1"):
        Weights(0.5, 0.5, 0.5)
    with pytest.raises(ValueError, match=">= 0"):
        Weights(-0.5, 1.0, 0.5)
    assert np.isclose(sum((Weights().attended, Weights().whole, Weights().stamps)), 1.0)
