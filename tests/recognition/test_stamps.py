"""The stamp recogniser (captioner/recognition/stamps.py): the decoder's object names on photographs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from captioner.pipeline import default_model_dir
from captioner.recognition.stamps import STAMPS_FILE, StampRecogniser

ROOT = Path(__file__).resolve().parents[2]


def test_probabilities_of_pooled_head_features_and_a_round_trip(tmp_path):
    weight = torch.zeros(3, 4)
    weight[1, 0] = 10.0  # "pliers" reads channel 0 of the head
    recogniser = StampRecogniser(weight, torch.zeros(3), ["nothing", "pliers", "wrench"], head_start=2)
    features = torch.zeros(1, 2, 6)
    features[0, 0, 2] = 1.0  # location 0 holds the head's channel 0
    maps = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # one map on location 0, one on location 1
    p = recogniser.probabilities(features, maps)
    assert p.shape == (1, 2, 3) and torch.allclose(p.sum(-1), torch.ones(1, 2))
    assert p[0, 0].argmax() == 1 and p[0, 1, 1] == pytest.approx(1 / 3)
    recogniser.save(tmp_path / STAMPS_FILE)
    loaded = StampRecogniser.for_model_dir(tmp_path, head_start=2)
    assert loaded.names == recogniser.names and torch.allclose(loaded.probabilities(features, maps), p, atol=1e-3)
    assert StampRecogniser.for_model_dir(tmp_path / "none") is None
    with pytest.raises(ValueError, match="3 names"):
        StampRecogniser(torch.zeros(2, 4), torch.zeros(2), ["a", "b", "c"])


def test_the_shipped_recogniser_knows_the_decoders_names_and_sees_pliers(one_torch_thread):
    from PIL import Image

    from captioner.pipeline import Captioner

    folder = default_model_dir("objects")
    recogniser = StampRecogniser.for_model_dir(folder)
    known = {o["name"] for o in json.loads((folder / "objects.json").read_text())["objects"]}
    assert set(recogniser.names) == known | {"nothing"}
    captioner = Captioner.from_pretrained(device="cpu", naming=False)
    features = captioner.encode([Image.open(ROOT / "data" / "photos" / "gc_wrench.jpg").convert("RGB")])
    whole = torch.full((1, 1, features.shape[1]), 1.0 / features.shape[1])
    p = recogniser.probabilities(features, whole)[0, 0]
    assert recogniser.names[int(p.argmax())] == "wrench"
