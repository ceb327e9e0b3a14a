"""The naming gallery (captioner/evaluation/gallery.py): real photos, the default captioner."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from captioner.evaluation.gallery import shown_word, write_gallery

ROOT = Path(__file__).resolve().parents[2]


def test_the_shown_word_is_the_first_named_object_else_the_first_naming_word():
    named = SimpleNamespace(words="a photo of a person and a cat".split(), objects=[SimpleNamespace(index=4), SimpleNamespace(index=7)])
    assert shown_word(named) == 4
    assert shown_word(SimpleNamespace(words="a picture of two small stars".split(), objects=[])) == 5


@pytest.fixture(scope="module")
def photo_set(tmp_path_factory):
    """Three rows of data/photos (a cat, a komodo dragon, people) as a photo set of their own."""
    folder = tmp_path_factory.mktemp("photos")
    with (ROOT / "data" / "photos" / "photos.csv").open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = [r for r in reader if r["file"] in ("sk_chelsea_cat.jpg", "gc_komodo.jpg", "cv_messi.jpg")]
        fields = reader.fieldnames
    with (folder / "photos.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fields)
        writer.writeheader()
        writer.writerows(rows)
    for r in rows:
        shutil.copy(ROOT / "data" / "photos" / r["file"], folder / r["file"])
    return folder


def test_the_gallery_shows_each_photo_its_heatmap_captions_and_sources(photo_set, tmp_path, one_torch_thread):
    from captioner.pipeline import Captioner

    captioner = Captioner.from_pretrained(device="cpu")
    page = write_gallery(captioner, photo_set, tmp_path / "docs" / "gallery.md", tmp_path / "docs" / "images" / "gallery")
    text = page.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ![")]
    assert len(rows) == 3, text
    cat = next(r for r in rows if "sk_chelsea_cat" in r)
    # the decoder alone said "a tiger"; naming says "cat", in bold, from the ImageNet classifier
    assert "](images/gallery/sk_chelsea_cat.jpg)" in cat and "a photo of a tiger" in cat, cat
    assert "**cat**" in cat and "| yes |" in cat and "ImageNet classifier" in cat, cat
    assert "person" in next(r for r in rows if "cv_messi" in r)
    assert "**komodo dragon**" in next(r for r in rows if "gc_komodo" in r)  # a name of two words, in bold as one
    assert "Named here: object: 2 of 2, people: 1 of 1." in text
    picture = Image.open(tmp_path / "docs" / "images" / "gallery" / "sk_chelsea_cat.jpg")
    assert max(picture.size) == 192 and picture.mode == "RGB"
    plain = Image.open(photo_set / "sk_chelsea_cat.jpg").convert("RGB")
    plain.thumbnail((192, 192))
    coloured = np.abs(np.asarray(picture, np.float32) - np.asarray(plain, np.float32)).mean()
    assert coloured > 4, coloured  # the heatmap is drawn over the photo (its JPEG encoding alone: 2.9; with the map: 6.7)
