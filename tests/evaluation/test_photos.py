"""The real-photo sets (captioner/evaluation/photos.py): the tuning set that naming's thresholds
are chosen on shares no photograph with the evaluation set that reports them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from captioner.evaluation.photos import read_photo_set, wrong_name

ROOT = Path(__file__).resolve().parents[2]


def _thumbnail(path: Path) -> np.ndarray:
    a = np.asarray(Image.open(path).convert("L").resize((16, 16)), dtype=np.float32).ravel()
    a -= a.mean()
    return a / (np.linalg.norm(a) + 1e-6)


def test_tuning_and_evaluation_photos_are_disjoint():
    tuning, evaluation = read_photo_set(ROOT / "data" / "photos-tuning"), read_photo_set(ROOT / "data" / "photos")
    assert len(tuning) >= 95 and sum(r["kind"] == "object" for r in tuning) >= 80
    assert not {r["file"] for r in tuning} & {r["file"] for r in evaluation}
    assert not {r["source"] for r in tuning} & {r["source"] for r in evaluation}  # not the same file of a package
    # nor the same picture under another name: 16x16 grey thumbnails correlate below 0.9
    t = np.stack([_thumbnail(r["path"]) for r in tuning])
    e = np.stack([_thumbnail(r["path"]) for r in evaluation])
    assert float((t @ e.T).max()) < 0.9
    assert float((e @ e.T)[np.eye(len(e)) == 1].min()) > 0.99  # the check sees a copy as a copy


def test_a_category_word_is_vague_in_the_plural_and_a_scene_names_no_object():
    spoonbills = {"main_object": "spoonbill", "accepted": "spoonbill|spoonbills|bird|birds"}
    assert not wrong_name("two birds".split(), {**spoonbills, "accepted": "spoonbill"})  # a counted category word
    assert not wrong_name("a photo of some dishes".split(), spoonbills)
    komodo = {"main_object": "komodo dragon", "accepted": "komodo dragon|lizard"}
    assert not wrong_name("a picture of a bird on tree bark".split(), komodo)  # the decoder's background
    assert not wrong_name("a picture of an animal on a beach".split(), komodo)  # a place of the names table
    assert wrong_name("a picture of a monkey on tree bark".split(), komodo)
    assert wrong_name("a photo of a beach".split(), komodo)  # a place said instead of the object is a wrong name
    assert wrong_name("a picture of some bark".split(), komodo)  # a background word alone is not its phrase
