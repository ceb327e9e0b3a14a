"""The classifier on a crop of the photo where a word looked (captioner/recognition/crops.py), and
how the Namer averages it with the attention-pooled features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from captioner.pipeline import default_model_dir
from captioner.recognition.crops import CropClassifier, attended_box
from captioner.recognition.names import load_names
from captioner.recognition.naming import ImageView, Lexicon, Namer

ROOT = Path(__file__).resolve().parents[2]
NAMES = load_names()


def peak(cells: list[tuple[int, int]], grid=(14, 14)) -> np.ndarray:
    a = np.zeros(grid, np.float32)
    for y, x in cells:
        a[y, x] = 1.0
    return a / a.sum()


def test_the_box_is_a_square_around_the_attended_cells_with_a_margin():
    # one cell of a 14x14 grid on a 280x140 image is 20x10 px; cells (6..7, 4..6) span x 80-140, y 60-80
    box = attended_box(peak([(6, 4), (7, 6)]), (280, 140), mass=1.0, margin=0.25)
    assert box == (65, 25, 155, 115)  # a square on the longer side (60 px) and a quarter of it each side


def test_the_box_keeps_the_cells_that_carry_the_mass_and_stays_inside_the_image():
    a = np.full((14, 14), 0.1 / 195, np.float32)
    a[0, 0] = 0.9  # 90 % on the corner cell: at mass 0.8 the crop is that cell alone
    assert attended_box(a, (140, 140), mass=0.8, margin=0.5) == (0, 0, 15, 15)  # 20 px around (5, 5), cut at 0
    # spread evenly, the crop is the whole picture
    assert attended_box(np.full((14, 14), 1 / 196, np.float32), (300, 200)) == (0, 0, 300, 200)


class CountingEncode:
    """Stands in for the encoder: records the crops it was given and answers head features that
    the classifier below reads as one class each."""

    def __init__(self, classes: list[int]):
        self.classes, self.crops = classes, []

    def __call__(self, images):
        self.crops.extend(images)
        features = torch.zeros(len(images), 4, 1000)
        for k, c in enumerate(self.classes[: len(images)]):
            features[k, :, c] = 20.0
        return features


class IdentityClassifier:
    def probabilities(self, features, maps):
        return torch.softmax(torch.bmm(maps, features), dim=-1)


def test_each_word_is_classified_on_its_own_crop():
    tiger, goldfish = NAMES.labels.index("tiger"), NAMES.labels.index("goldfish")
    encode = CountingEncode([tiger, goldfish])
    crops = CropClassifier(encode, IdentityClassifier())
    image = Image.new("RGB", (280, 280))
    p = crops.probabilities(image, np.stack([peak([(1, 1)]), peak([(10, 12)])]))
    assert p.shape == (2, 1000) and p[0].argmax() == tiger and p[1].argmax() == goldfish
    assert [c.size for c in encode.crops] == [(26, 26), (26, 26)]  # a 20 px cell and 15 % more on each side


def test_the_namer_averages_the_crop_with_the_pooled_features():
    # pooled features unsure (tiger 0.6); the crop sure (tiger 1.0): the average, 0.8, names it at 0.7
    from tests.recognition.test_naming import FakeClassifier, caption

    lexicon = Lexicon.for_model_dir(default_model_dir("objects"))
    tiger = NAMES.labels.index("tiger")
    namer = Namer(
        FakeClassifier([("tench", 0.01), ("tiger", 0.6)]),
        lexicon,
        crops=CropClassifier(CountingEncode([tiger]), IdentityClassifier()),
    )
    namer.thresholds = type(namer.thresholds)(name=0.7)
    with_crop, without = caption("a photo of a monkey"), caption("a photo of a monkey")
    view = namer.image_view(Image.new("RGB", (64, 48)))
    assert isinstance(view, ImageView) and view.detections is None and view.size == (64, 48)
    namer.rename(with_crop, torch.zeros(196, 8), view, (640, 480))
    namer.rename(without, torch.zeros(196, 8))  # no photo at hand: the pooled features alone
    assert with_crop.text == "a photo of a tiger" and with_crop.objects[0].probability == pytest.approx(0.8, abs=0.01)
    assert without.text != "a photo of a tiger"


@pytest.fixture(scope="module")
def real_crops(one_torch_thread):
    from captioner.pipeline import Captioner
    from captioner.recognition.classifier import RegionClassifier

    model = Captioner.from_pretrained(device="cpu", naming=False).model
    return CropClassifier.for_model(model, RegionClassifier.for_model(model))


def test_the_real_crop_classifier_names_a_real_photo(real_crops):
    # scikit-image's cat, its face in the middle of the picture
    crops = real_crops
    image = Image.open(ROOT / "data" / "photos" / "sk_chelsea_cat.jpg").convert("RGB")
    centre = peak([(y, x) for y in range(4, 10) for x in range(4, 10)])
    p = crops.probabilities(image, centre[None])[0]
    cat = sum(float(p[k]) for k, name in enumerate(NAMES.names) if name == "cat")  # tabby, tiger cat, Egyptian cat ...
    assert NAMES.names[int(p.argmax())] == "cat" and cat > 0.9, cat
