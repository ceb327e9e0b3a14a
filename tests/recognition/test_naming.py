"""Naming object words from where the caption looked (captioner/recognition/naming.py), with a
classifier and a detector whose answers the tests choose; and the real ones on real photos."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from captioner.pipeline import default_model_dir
from captioner.recognition.names import load_names
from captioner.recognition.naming import Lexicon, Namer, Thresholds, looked_here
from captioner.results.result import CaptionResult

ROOT = Path(__file__).resolve().parents[2]
GRID = (14, 14)
L = GRID[0] * GRID[1]
NAMES = load_names()


def label_index(label: str) -> int:
    return NAMES.labels.index(label)


class FakeClassifier:
    """Answers each word's map (and the whole image's, row 0) with the distribution the test set:
    `answers[k]` for the k-th map, one class at probability p, the rest spread evenly."""

    def __init__(self, answers: list[tuple[str, float]]):
        self.answers = answers

    def probabilities(self, features, maps):
        K = maps.shape[1]
        out = torch.zeros(1, K, 1000)
        for k in range(K):
            label, p = self.answers[k] if k < len(self.answers) else ("tench", 0.001)
            out[0, k] = (1 - p) / 999
            out[0, k, label_index(label)] = p
        return out


@dataclass
class FakeDetection:
    label: str
    score: float
    box: tuple[float, float, float, float]


class FakeDetector:
    labels = ["person", "bird", "cat", "dog", "horse", "sheep", "cow", "dining table"]  # some of COCO's

    def __init__(self, detections):
        self.detections = detections

    def detect(self, image, min_score=0.3):
        return [d for d in self.detections if d.score >= min_score]


class FakeImage:
    size = (224, 224)


def caption(text: str, peak_cells: dict[int, int] | None = None) -> CaptionResult:
    words = text.split()
    attention = np.full((len(words), *GRID), 1.0 / L, dtype=np.float32)
    for k, cell in (peak_cells or {}).items():
        attention[k] = 0
        attention[k].flat[cell] = 1.0
    return CaptionResult(text=text, words=words, attention=attention, score=-0.5, betas=np.full(len(words), 0.5, np.float32))


@pytest.fixture(scope="module")
def lexicon():
    return Lexicon.for_model_dir(default_model_dir("objects"))


def renamed(lexicon, text, answers, detections=None, design="slots", **thresholds):
    namer = Namer(
        FakeClassifier(answers),
        lexicon,
        detector=FakeDetector(detections) if detections is not None else None,
        thresholds=Thresholds(**thresholds),
        design=design,
    )
    result = caption(text)
    namer.rename(result, torch.zeros(L, 8), FakeImage() if detections is not None else None, (448, 448))
    return result


def test_a_sure_classifier_names_the_word_and_says_so(lexicon):
    # rows: the whole image, then each object word in order
    result = renamed(lexicon, "a photo of a monkey", [("tiger", 0.2), ("tiger", 0.97)])
    assert result.text == "a photo of a tiger" and result.decoder_text == "a photo of a monkey"
    (obj,) = result.objects
    assert (obj.index, obj.word, obj.source, obj.label, obj.decoder_word) == (4, "tiger", "classifier", "tiger", "monkey")
    assert obj.probability == pytest.approx(0.97)
    assert looked_here(result, 4) == "looked here: tiger 0.97, ImageNet classifier"
    assert looked_here(result, 1) is None
    assert result.to_json()["objects"][0]["source"] == "classifier"
    assert result.attention.shape == (5, *GRID) and len(result.betas) == 5


def test_an_unsure_name_falls_back_to_the_category_then_to_something(lexicon):
    # tabby + tiger cat + Egyptian cat share the name "cat"; here no single name is sure, the category is
    animal = renamed(lexicon, "a photo of a rat", [("tench", 0.01), ("lion", 0.45)], category=0.4)
    assert animal.text == "a photo of an animal" and animal.objects[0].source == "classifier"
    vague = renamed(lexicon, "a photo of a rat", [("tench", 0.01), ("lion", 0.3)], category=0.6)
    assert vague.text == "a photo of something"
    # the gate keeps the decoder's word unless the classifier is sure of another
    gate = renamed(lexicon, "a photo of a rat", [("tench", 0.01), ("lion", 0.45)], design="gate", category=0.4)
    assert gate.text == "a photo of a rat" and gate.objects[0].source == "decoder"


def test_the_narrowest_sure_category_is_said(lexicon):
    # an owl the classifier is unsure of by name: "a bird" when the bird category is sure, else "an animal"
    bird = renamed(lexicon, "a photo of a rat", [("tench", 0.01), ("great grey owl", 0.75)], category=0.7)
    assert bird.text == "a photo of a bird" and bird.objects[0].source == "classifier"
    animal = renamed(lexicon, "a photo of a rat", [("tench", 0.01), ("great grey owl", 0.55)], category=0.6)
    assert animal.text == "a photo of an animal"


def test_a_detection_where_the_word_looked_confirms_an_unsure_name(lexicon):
    tabby = [("tench", 0.01), ("tabby", 0.62)]  # "cat" at 0.62: not sure alone (name 0.9)
    here, away = (0, 0, 100, 100), (150, 150, 220, 220)  # the word's attention peaks at the image's top left
    cat = renamed(lexicon, "a picture of a bird", tabby, [FakeDetection("cat", 0.40, here)])
    assert cat.text == "a picture of a cat"
    assert (cat.objects[0].source, cat.objects[0].label, cat.objects[0].box) == ("classifier", "tabby", [0.0, 0.0, 200.0, 200.0])
    assert looked_here(cat, 4) == "looked here: tabby → cat 0.62, ImageNet classifier, and the detector saw cat 0.40 there"
    assert cat.to_json()["objects"][0]["confirmed_by"] == "cat 0.40"
    # a detected bird confirms an owl: the name's category
    owl = renamed(lexicon, "a picture of a rat", [("tench", 0.01), ("great grey owl", 0.64)], [FakeDetection("bird", 0.38, here)])
    assert owl.text == "a picture of an owl"
    # no confirmation: elsewhere, too weak, another kind, a name the classifier is less sure of, or off
    for detection, answers, thresholds in [
        (FakeDetection("cat", 0.40, away), tabby, {}),
        (FakeDetection("cat", 0.30, here), tabby, {}),
        (FakeDetection("dog", 0.45, here), tabby, {}),
        (FakeDetection("cat", 0.40, here), [("tench", 0.01), ("tabby", 0.45)], {}),
        (FakeDetection("cat", 0.40, here), tabby, {"confirmed": None}),
    ]:
        # (the decoder's "bird", which the classifier's cat rules out, becomes "something")
        assert renamed(lexicon, "a picture of a bird", answers, [detection], **thresholds).text in (
            "a picture of an animal",
            "a picture of something",
        )


def test_the_whole_picture_naming_the_same_confirms_an_unsure_name(lexicon):
    # the attended region says cat at 0.65 and the whole picture at 0.62: each unsure alone (name 0.9)
    cat = renamed(lexicon, "a picture of a bird", [("Egyptian cat", 0.62), ("tabby", 0.65)])
    assert cat.text == "a picture of a cat"
    assert (cat.objects[0].source, cat.objects[0].label, cat.objects[0].box) == ("classifier", "tabby", None)
    assert cat.objects[0].confirmed_by == "whole picture: cat 0.62"
    assert looked_here(cat, 4) == "looked here: tabby → cat 0.65, ImageNet classifier, and the same on the whole picture: cat 0.62"
    # not: the whole picture names another thing, either view is below its threshold, or the rung is off
    for answers, thresholds in [
        ([("lion", 0.62), ("tabby", 0.65)], {}),
        ([("tabby", 0.55), ("tabby", 0.65)], {}),
        ([("tabby", 0.62), ("tabby", 0.25)], {}),
        ([("tabby", 0.62), ("tabby", 0.65)], {"agreed": None}),
        ([("tabby", 0.62), ("tabby", 0.65)], {"agreed": 0.7}),
    ]:
        # (the decoder's "bird", which the classifier's cat rules out, becomes "something")
        assert renamed(lexicon, "a picture of a bird", answers, **thresholds).text in ("a picture of an animal", "a picture of something")


def test_the_whole_picture_naming_another_thing_makes_a_sure_name_unsure(lexicon):
    # the region says fox at 0.91, the whole picture cat at 0.28: the two views disagree, the category is said
    kitten = [("tabby", 0.28), ("red fox", 0.91)]
    assert renamed(lexicon, "a picture of a bird", kitten, category=0.5).text == "a picture of an animal"
    assert renamed(lexicon, "a picture of a bird", kitten, category=0.5, contradicted=None).text == "a picture of a fox"
    assert renamed(lexicon, "a picture of a bird", [("tabby", 0.15), ("red fox", 0.91)], category=0.5).text == "a picture of a fox"
    # a detection of the same thing where the word looked still confirms it
    cat = [("lion", 0.3), ("tabby", 0.91)]
    assert renamed(lexicon, "a picture of a bird", cat, [], category=0.5).text == "a picture of an animal"
    confirmed = renamed(lexicon, "a picture of a bird", cat, [FakeDetection("cat", 0.40, (0, 0, 100, 100))], category=0.5)
    assert confirmed.text == "a picture of a cat" and confirmed.objects[0].confirmed_by == "cat 0.40"


def test_the_detector_names_the_decoders_category_word_when_the_classifier_is_sure_of_it(lexicon):
    corkscrew = [("tench", 0.01), ("corkscrew", 0.79)]  # a tool to the classifier, sure (0.7); the name is not
    scissors = [FakeDetection("scissors", 0.81, (0, 0, 100, 100))]
    named = renamed(lexicon, "a picture of a tool", corkscrew, scissors)
    assert named.text == "a picture of some scissors" and named.objects[0].source == "detector"
    assert renamed(lexicon, "a picture of a tool", corkscrew, []).text == "a picture of a tool"
    unsure = renamed(lexicon, "a picture of a tool", [("tench", 0.01), ("corkscrew", 0.5)], scissors)
    assert unsure.text == "a picture of a tool" and unsure.objects[0].source == "decoder"


def test_a_place_after_a_list_keeps_the_lists_and_and_plural_only_names_take_some(lexicon):
    # "and a tree" dropped as a second mention took its "and"; the place "by a castle" comes after the list
    place = [("castle", 0.96), ("koala", 0.99), ("tench", 0.001), ("tench", 0.001)]
    assert renamed(lexicon, "a photo of a koala a tree and a tree", place).text == "a photo of a koala and a tree by a castle"
    # ImageNet's "scale" is everyday "scales", a plural-only name like "pliers"
    assert renamed(lexicon, "a picture of a sign", [("tench", 0.01), ("scale", 0.97)]).text == "a picture of some scales"


def test_something_is_said_only_when_nothing_is_named(lexicon):
    # the first word's region is unsure of everything (tench 0.3: no name, no category), the second is a mug
    unsure, mug = ("tench", 0.3), ("coffee mug", 0.97)
    assert renamed(lexicon, "a picture of a koala", [("tench", 0.001), unsure]).text == "a picture of something"
    assert renamed(lexicon, "a picture of a koala and a hammer", [("tench", 0.001), unsure, mug]).text == "a picture of a mug"
    assert renamed(lexicon, "a picture of a hammer and a koala", [("tench", 0.001), mug, unsure]).text == "a picture of a mug"
    # and beside a place ("a photo of something and a tree by a castle" before)
    castle = renamed(lexicon, "a photo of a koala and a tree", [("castle", 0.96), unsure, ("tench", 0.001)])
    assert castle.text == "a photo of a tree by a castle" and [o.word for o in castle.objects] == ["tree", "castle"]
    # nor a category word of the decoder's that no recogniser backs beside a name; one the classifier backs stays
    koala = [("tench", 0.001), ("koala", 0.99)]
    assert renamed(lexicon, "a picture of a koala and a tool", [*koala, ("tench", 0.001)]).text == "a picture of a koala"
    assert renamed(lexicon, "a picture of a koala and a fish", [*koala, ("tench", 0.75)]).text == "a picture of a koala and a fish"
    hammer = [("tench", 0.001), ("hammer", 0.2)]  # the classifier does not rule "tool" out
    assert renamed(lexicon, "a picture of a tool", hammer).text == "a picture of a tool"  # alone it stays


def test_the_decoders_category_word_stays_only_where_the_classifier_does_not_rule_it_out(lexicon):
    # nothing is sure where the word looked, and the classifier gives "tool" next to nothing (its
    # even spread: about 0.03) and ranks another category first: "something", not a guess
    spread = [("tench", 0.001), ("tench", 0.001)]
    result = renamed(lexicon, "a picture of a tool", spread)
    assert result.text == "a picture of something" and result.objects[0].decoder_word == "tool"
    # a hammer at 0.2 backs the category (>= category_backed, 0.1)
    assert renamed(lexicon, "a picture of a tool", [("tench", 0.001), ("hammer", 0.2)]).text == "a picture of a tool"
    assert (
        renamed(lexicon, "a picture of a tool", [("tench", 0.001), ("hammer", 0.2)], category_backed=0.5).text == "a picture of something"
    )
    # the classifier's first category, however unsure, is not ruled out
    assert renamed(lexicon, "a picture of an animal", spread).text == "a picture of an animal"
    # a category the classifier has no classes for cannot be ruled out; and the rule can be turned off
    assert renamed(lexicon, "a picture of a toy", spread).text == "a picture of a toy"
    assert renamed(lexicon, "a picture of a tool", spread, category_backed=None).text == "a picture of a tool"


def test_a_place_takes_the_place_of_an_unbacked_category_word_but_not_of_a_backed_one(lexicon):
    # the whole picture: a coral reef at 0.5 (a place is said from 0.3)
    reef = ("coral reef", 0.5)
    # the classifier is sure the region is a fish (tench 0.75: the category at 0.75, the name unsure): "a fish" stays
    fish = renamed(lexicon, "a picture of a fish", [reef, ("tench", 0.75)])
    assert fish.text == "a picture of a fish on a coral reef" and [o.word for o in fish.objects] == ["fish", "coral reef"]
    # the decoder's "tool" that nothing backs gives way to the place
    assert renamed(lexicon, "a picture of a tool", [reef, ("tench", 0.001)]).text == "a picture of a coral reef"
    assert renamed(lexicon, "a picture of a fish", [reef, ("tench", 0.75)], place=0.6).text == "a picture of a fish"


def test_the_same_object_is_named_once_unless_counted(lexicon):
    once = renamed(lexicon, "a picture of a koala and a koala", [("koala", 0.1), ("koala", 0.99), ("koala", 0.98)])
    assert once.text == "a picture of a koala"
    assert len(once.attention) == len(once.words) == 5
    dogs = [FakeDetection("dog", 0.8, (0, 0, 100, 100)), FakeDetection("dog", 0.7, (120, 0, 220, 100))]
    two = renamed(lexicon, "a picture of a dog and a dog", [("beagle", 0.1), ("beagle", 0.99), ("beagle", 0.98)], dogs)
    assert two.text == "a picture of two dogs"
    assert two.objects[0].count == 2 and two.objects[0].box == [0.0, 0.0, 440.0, 200.0]  # scaled to 448 px
    # a vaguer word for an object already named is dropped too; a dropped last mention keeps the list's "and"
    cat = renamed(lexicon, "a picture of a bird and an animal", [("tabby", 0.1), ("tabby", 0.9), ("tench", 0.001)], category=0.9)
    assert cat.text == "a picture of a cat"
    listed = renamed(
        lexicon, "a picture of a fruit a bandage and a vegetable", [("tench", 0.001), ("ladle", 0.99), ("spatula", 0.95), ("ladle", 0.98)]
    )
    assert listed.text == "a picture of a ladle and a spatula"


@pytest.mark.parametrize("n, phrase", [(1, "a person"), (2, "two people"), (3, "a group of people")])
def test_people_from_the_detector(lexicon, n, phrase):
    people = [FakeDetection("person", 0.9, (10 + 60 * k, 10, 60 + 60 * k, 200)) for k in range(n)]
    result = renamed(lexicon, "a photo of a syringe", [("tench", 0.001), ("daisy", 0.2)], people)  # not sure: "something"
    assert result.text == f"a photo of {phrase}"
    obj = result.objects[0]
    assert (obj.source, obj.label, obj.count) == ("detector", "person", n)
    assert result.attention[-1].sum() == pytest.approx(1.0)
    # below the threshold, nobody
    faint = renamed(lexicon, "a photo of a dog", [("tench", 0.001), ("beagle", 0.99)], [FakeDetection("person", 0.3, (0, 0, 200, 200))])
    assert faint.text == "a photo of a dog"


def test_a_person_beside_a_named_object(lexicon):
    result = renamed(lexicon, "a photo of a dog", [("tench", 0.001), ("beagle", 0.99)], [FakeDetection("person", 0.9, (0, 0, 30, 40))])
    assert result.text == "a photo of a dog and a person"


def test_places_from_the_whole_picture(lexicon):
    beach = renamed(lexicon, "a photo of a dog by the sea", [("seashore", 0.9), ("beagle", 0.99)])
    assert beach.text == "a photo of a dog on a beach"
    assert beach.objects[-1].word == "beach" and beach.objects[-1].label == "seashore"
    alone = renamed(lexicon, "a photo of a syringe", [("seashore", 0.9), ("tench", 0.01)])
    assert alone.text == "a photo of a beach"
    assert len(alone.attention) == len(alone.words)


class FakeDomain:
    def __init__(self, inside: bool):
        self.inside = inside

    def contains(self, features):
        return torch.full((len(features),), self.inside)


class FakeStamps:
    """The stamp recogniser's answer for the whole picture: one name at probability p."""

    def __init__(self, name: str, p: float):
        self.names = ["nothing", name]
        self.p = p

    def probabilities(self, features, maps):
        return torch.tensor([1 - self.p, self.p]).expand(1, maps.shape[1], 2)


def test_in_the_decoders_own_world_its_words_stay(lexicon):
    for inside, text in ((True, "a photo of a monkey"), (False, "a photo of a tiger")):
        namer = Namer(FakeClassifier([("tiger", 0.2), ("tiger", 0.97)]), lexicon, domain=FakeDomain(inside))
        (result,) = results = [caption("a photo of a monkey")]
        namer.rename_all(results, torch.zeros(1, L, 8))
        assert result.text == text
        assert result.objects[0].source == ("decoder" if inside else "classifier")


@pytest.mark.parametrize("score, text", [(0.9, "a photo of a person and a tiger"), (0.7, "a photo of a monkey")])
def test_a_sure_person_takes_an_image_out_of_the_decoders_world(lexicon, score, text):
    # the decoder's scenes have no people: a person at Thresholds.domain_person (0.8) or more means a photo
    person = FakeDetector([FakeDetection("person", score, (0, 0, 30, 40))])
    namer = Namer(FakeClassifier([("tiger", 0.2), ("tiger", 0.97)]), lexicon, detector=person, domain=FakeDomain(True))
    (result,) = results = [caption("a photo of a monkey")]
    namer.rename_all(results, torch.zeros(1, L, 8), [(namer.image_view(Image.new("RGB", (64, 64))), (64, 64))])
    assert result.text == text


def test_the_stamp_recogniser_names_what_imagenet_has_no_class_for(lexicon):
    def named(stamp, p, answers):
        namer = Namer(FakeClassifier(answers), lexicon, stamps=FakeStamps(stamp, p), thresholds=Thresholds(stamp=0.5))
        result = caption("a photo of a tool")
        namer.rename(result, torch.zeros(L, 8))
        return result

    pliers = named("pliers", 0.8, [("tench", 0.001), ("corkscrew", 0.3)])
    assert pliers.text == "a photo of some pliers"
    assert (pliers.objects[0].source, pliers.objects[0].label) == ("stamps", "pliers")
    assert looked_here(pliers, pliers.objects[0].index) == "looked here: pliers 0.80, stamp recogniser"
    assert named("pliers", 0.4, [("tench", 0.001), ("corkscrew", 0.3)]).text == "a photo of a tool"  # not sure: kept
    assert named("pliers", 0.9, [("tench", 0.001), ("hammer", 0.95)]).text == "a photo of a hammer"  # ImageNet first
    assert named("nothing", 0.9, [("tench", 0.001), ("corkscrew", 0.3)]).text == "a photo of a tool"


def test_the_stamps_name_within_the_category_word_the_decoder_wrote(lexicon):
    def named(text, p, **thresholds):
        answers = [("tench", 0.001), ("corkscrew", 0.3)]  # the classifier unsure of anything
        namer = Namer(FakeClassifier(answers), lexicon, stamps=FakeStamps("pliers", p), thresholds=Thresholds(stamp=0.9, **thresholds))
        result = caption(text)
        namer.rename(result, torch.zeros(L, 8))
        return result

    pliers = named("a photo of a tool", 0.75)  # the stamps alone are not sure (0.9); within "tool" they are
    assert pliers.text == "a photo of some pliers" and pliers.objects[0].source == "stamps"
    assert named("a photo of a tool", 0.6).text == "a photo of a tool"  # below stamp_category (0.7)
    assert named("a photo of a fruit", 0.75, category_backed=None).text == "a photo of a fruit"  # pliers are no fruit
    assert named("a photo of a fruit", 0.75).text == "a photo of something"  # nor does the classifier back a fruit
    assert named("a photo of a tool", 0.75, stamp_category=None).text == "a photo of a tool"


def test_shapes_models_are_not_renamed():
    assert Lexicon.for_model_dir(default_model_dir("shapes")) is None


# scikit-image's cat was "a tiger" while the decoder's sure words were kept everywhere (p = 0.43);
# a wrench has no ImageNet class: the stamp recogniser names it.
@pytest.mark.parametrize(
    "file, name, source",
    [
        ("cv_dog.jpg", "dog", "classifier"),
        ("gc_goldfish.jpg", "fish", "classifier"),
        ("sk_chelsea_cat.jpg", "cat", "classifier"),
        ("gc_wrench1.jpg", "wrench", "stamps"),
    ],
)
def test_real_photos_are_named_by_the_default_model(default_captioner, file, name, source):
    (result,) = default_captioner.caption([ROOT / "data" / "photos" / file], beam_size=3)
    assert name in result.words, result.text
    assert any(o.word == name and o.source == source for o in result.objects), result.objects


def test_people_in_a_real_photo(default_captioner):
    (result,) = default_captioner.caption([ROOT / "data" / "photos" / "cv_basketball.jpg"], beam_size=3)
    assert "two people" in result.text, result.text
    people = next(o for o in result.objects if o.source == "detector")
    assert people.box is not None and people.box[2] <= 640  # in the photo's own pixels


@pytest.fixture(scope="module")
def default_captioner(one_torch_thread):
    from captioner.pipeline import Captioner

    captioner = Captioner.from_pretrained(device="cpu")
    assert captioner.namer is not None and captioner.namer.detector is not None
    return captioner


def test_naming_can_be_turned_off(one_torch_thread):
    from captioner.pipeline import Captioner

    captioner = Captioner.from_pretrained(device="cpu", naming=False)
    assert captioner.namer is None
    (result,) = captioner.caption([ROOT / "data" / "photos" / "sk_chelsea_cat.jpg"], beam_size=3)
    assert result.objects == [] and result.decoder_text is None and "objects" not in result.to_json()


def test_naming_without_the_detector(one_torch_thread):
    from captioner.pipeline import Captioner

    captioner = Captioner.from_pretrained(device="cpu", detector=False)
    assert captioner.namer is not None and captioner.namer.detector is None
    (cat, astronaut) = captioner.caption([ROOT / "data" / "photos" / f for f in ("sk_chelsea_cat.jpg", "sk_astronaut.jpg")], beam_size=3)
    assert cat.text == "a photo of a cat" and cat.objects[0].source == "classifier"
    assert "person" not in astronaut.words  # people come from the detector only


def test_a_detection_of_another_animal_where_the_word_looked_unseats_the_decoders_backed_word(lexicon):
    """The decoder wrote "cow", the stamps back it (0.7, so the mixture 0.35 >= agree 0.3); NanoDet
    sees a horse where the word looked: the decoder's word is not kept, the ladder names the horse."""

    def named(detections, word="cow", **thresholds):
        namer = Namer(
            FakeClassifier([("tench", 0.001), ("sorrel", 0.6)]),
            lexicon,
            detector=FakeDetector(detections),
            stamps=FakeStamps(word, 0.7),
            thresholds=Thresholds(**thresholds),
        )
        result = caption(f"a photo of a {word}", {4: 0})
        namer.rename(result, torch.zeros(L, 8), FakeImage(), (224, 224))
        return result

    at_peak = (0, 0, 100, 100)
    horse = named([FakeDetection("horse", 0.69, at_peak)])
    assert horse.text == "a photo of a horse" and horse.objects[0].source == "classifier" and horse.objects[0].confirmed_by == "horse 0.69"
    assert named([FakeDetection("horse", 0.69, at_peak)], detected_otherwise=None).text == "a photo of a cow"
    assert named([FakeDetection("horse", 0.45, at_peak)]).text == "a photo of a cow"  # below the score
    assert named([FakeDetection("horse", 0.69, (150, 150, 220, 220))]).text == "a photo of a cow"  # not where it looked
    assert named([FakeDetection("cow", 0.69, at_peak)]).text == "a photo of a cow"  # the same thing
    assert named([FakeDetection("dining table", 0.9, at_peak)]).text == "a photo of a cow"  # another kind of thing
    assert named([]).objects[0].source == "decoder"
    # a word the detector cannot say is not contradicted by its nearest class (COCO has no boar)
    boar = named([FakeDetection("dog", 0.69, at_peak)], word="boar")
    assert boar.text == "a photo of a boar" and boar.objects[0].source == "decoder"


def test_the_pooled_design_climbs_a_ladder_of_recognisers(lexicon):
    """Design "pooled": the classifier (here the whole picture's answer, row 0) when it is sure,
    else the stamps, else the detector's object where the word looked, else a category."""

    def named(whole, stamp, detections, **thresholds):
        namer = Namer(
            FakeClassifier([whole, ("tench", 0.001)]),
            lexicon,
            detector=FakeDetector(detections),
            stamps=FakeStamps(*stamp),
            thresholds=Thresholds(attended=0.0, name=0.9, stamp=0.7, detector=0.7, **thresholds),
            design="pooled",
        )
        result = caption("a photo of a monkey", {4: 0})
        namer.rename(result, torch.zeros(L, 8), FakeImage(), (224, 224))
        return result

    chair = [FakeDetection("chair", 0.8, (0, 0, 100, 100))]
    assert named(("tiger", 0.95), ("pliers", 0.9), chair).text == "a photo of a tiger"  # the classifier, sure
    pliers = named(("tiger", 0.6), ("pliers", 0.9), chair)
    assert pliers.text == "a photo of some pliers" and pliers.objects[0].source == "stamps"
    seat = named(("tiger", 0.6), ("pliers", 0.5), chair)
    assert seat.text == "a photo of a chair" and seat.objects[0].source == "detector" and seat.objects[0].box is not None
    away = [FakeDetection("chair", 0.8, (150, 150, 220, 220))]  # not where the word looked
    assert named(("tiger", 0.6), ("pliers", 0.5), away).text == "a photo of something"  # the attended region: no sure category
    assert named(("tiger", 0.6), ("pliers", 0.5), [FakeDetection("chair", 0.6, (0, 0, 100, 100))]).text == "a photo of something"
    # the decoder's own name stays when the recognisers' mixture backs it
    backed = named(("tiger", 0.6), ("monkey", 0.5), [], agree=0.2)
    assert (
        backed.text == "a photo of a monkey"
        and looked_here(backed, 4) == "looked here: monkey, the caption decoder's own word (the recognisers backed it: 0.25)"
    )
    assert named(("tiger", 0.6), ("monkey", 0.5), [], agree=None).text == "a photo of something"
