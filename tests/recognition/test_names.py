"""The ImageNet names table (captioner/recognition/imagenet_names.csv) and its reader."""

from __future__ import annotations

import csv

import pytest

from captioner.recognition.names import NAMES_FILE, NamesTableError, load_names, plural


@pytest.fixture(scope="module")
def names():
    return load_names()


def test_fine_grained_classes_get_the_everyday_name_plural_and_category(names):
    by_label = {label: k for k, label in enumerate(names.labels)}
    expect = {
        "tabby": ("cat", "animal"),
        "German shepherd": ("dog", "animal"),
        "ram": ("sheep", "animal"),
        "sorrel": ("horse", "animal"),
        "drake": ("duck", "bird"),
        "minibus": ("minibus", "vehicle"),
        "Granny Smith": ("apple", "fruit"),
        "tiger": ("tiger", "animal"),
    }
    for label, (name, category) in expect.items():
        k = by_label[label]
        assert (names.names[k], names.categories[k]) == (name, category), label
    assert names.plurals["sheep"] == "sheep" and names.plurals["goose"] == "geese" and names.plurals["bus"] == "buses"
    assert names.plurals["wolf"] == "wolves" and names.plurals["butterfly"] == "butterflies"


def test_places_people_and_excluded_classes(names):
    places = {names.labels[k] for k, kind in enumerate(names.kinds) if kind == "place"}
    for place in ("seashore", "alp", "valley", "lakeside", "cliff", "volcano", "promontory", "restaurant", "library", "barn"):
        assert place in places
    assert names.place_phrases["beach"] == ("on", "a", "beach")
    assert {names.labels[k] for k, kind in enumerate(names.kinds) if kind == "person"} == {"ballplayer", "groom", "scuba diver"}
    assert not names.usable[names.labels.index("web site")] and names.usable.sum() == 1000 - 93


def test_a_broken_table_is_refused_with_its_line(tmp_path):
    rows = list(csv.DictReader(NAMES_FILE.open(encoding="utf-8")))
    rows[5]["use"], rows[5]["reason"] = "no", ""
    bad = tmp_path / "names.csv"
    with bad.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(NamesTableError, match="line 7: an excluded class needs its reason"):
        load_names(bad)
    with pytest.raises(NamesTableError, match="not found"):
        load_names(tmp_path / "missing.csv")


def test_plurals_of_names_and_category_words():
    assert [plural(w) for w in ("bird", "dish", "box", "person", "fish", "butterfly", "toy")] == [
        "birds",
        "dishes",
        "boxes",
        "people",
        "fish",
        "butterflies",
        "toys",
    ]
    assert plural("mouse", {"mouse": "mice"}) == "mice"
