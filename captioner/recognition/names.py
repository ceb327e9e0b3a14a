"""ImageNet-1k's 1000 classes as the names people use: the reviewed table imagenet_names.csv
(made once from WordNet 3.0 by scripts/make_imagenet_names.py; read here with csv).

Each class has an everyday name ("tabby" -> "cat"), its plural, a category ("animal"), a kind
(object, place or person), for places the phrase a caption ends with ("on a beach"), and whether a
caption may use it (texture-like and worn-clothing classes mislead on photos: `use` = no).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from captioner.data.objects import CATEGORY_WORDS

NAMES_FILE = Path(__file__).resolve().parent / "imagenet_names.csv"
N_CLASSES = 1000

# How a caption says a category when the name is not sure (article, words): as the generated
# scenes' captions say it, for the categories they share, then those only ImageNet's classes bring.
_AS_IN_SCENES = ("animal", "bird", "fish", "insect", "fruit", "vegetable", "food", "flower", "plant")
_AS_IN_SCENES += ("instrument", "aircraft", "boat", "vehicle", "ball", "tool", "hat", "dish", "building")
CATEGORY_PHRASES = {
    **{category: CATEGORY_WORDS[category] for category in _AS_IN_SCENES},
    "mushroom": ("a", "mushroom"),
    "piece of furniture": ("a", "piece of furniture"),
    "piece of clothing": ("a", "piece of clothing"),
    "shoe": ("a", "shoe"),
    "container": ("a", "container"),
    "weapon": ("a", "weapon"),
    "object": ("an", "object"),
    "person": ("a", "person"),
}
# A category's wider one: when neither "bird" nor "fish" is sure, "animal" may be.
PARENT_CATEGORY = {
    "bird": "animal",
    "fish": "animal",
    "insect": "animal",
    "fruit": "food",
    "vegetable": "food",
    "mushroom": "food",
    "flower": "plant",
}


# Plurals the "-s"/"-es" rule gets wrong, among the words a caption counts or says of several things.
_IRREGULAR_PLURALS = {
    "person": "people",
    "fish": "fish",
    "piece of furniture": "pieces of furniture",
    "piece of clothing": "pieces of clothing",
}


def plural(word: str, table: dict[str, str] | None = None) -> str:
    """The plural of a name or category word: the names table's when it has one, else English's
    regular rule ("bird" -> "birds", "dish" -> "dishes", "person" -> "people")."""
    if table and word in table:
        return table[word]
    return _IRREGULAR_PLURALS.get(word) or regular_plural(word)


def regular_plural(word: str) -> str:
    """English's spelling rule for the plural of one word: "dish" -> "dishes", "butterfly" ->
    "butterflies", "bird" -> "birds" (scripts/make_imagenet_names.py uses it for the table too)."""
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u"):
        return word[:-1] + "ies"
    return word + "s"


class NamesTableError(RuntimeError):
    """The shipped names table is missing or malformed."""


@dataclass(frozen=True)
class ImageNetNames:
    wnids: tuple[str, ...]
    labels: tuple[str, ...]  # ImageNet's own first label ("tabby")
    names: tuple[str, ...]  # everyday name per class ("cat")
    plurals: dict[str, str]  # name -> plural
    categories: tuple[str, ...]
    kinds: tuple[str, ...]  # "object", "place" or "person"
    place_phrases: dict[str, tuple[str, ...]]  # place name -> words after the caption ("on", "a", "beach")
    usable: np.ndarray  # bool (1000,)

    @property
    def name_list(self) -> list[str]:
        """The distinct names, in first-class order: the columns of name_matrix."""
        return list(dict.fromkeys(self.names))

    @property
    def category_list(self) -> list[str]:
        return list(dict.fromkeys(self.categories))

    def matrix(self, groups: tuple[str, ...], columns: list[str], kinds: tuple[str, ...] = ("object", "person")) -> np.ndarray:
        """(1000, len(columns)) 0/1: which usable class of `kinds` sums into which column."""
        index = {c: j for j, c in enumerate(columns)}
        m = np.zeros((N_CLASSES, len(columns)), dtype=np.float32)
        for i, (group, kind) in enumerate(zip(groups, self.kinds)):
            if self.usable[i] and kind in kinds:
                m[i, index[group]] = 1.0
        return m


@lru_cache(maxsize=2)
def load_names(path: str | Path = NAMES_FILE) -> ImageNetNames:
    path = Path(path)
    if not path.is_file():
        raise NamesTableError(f"ImageNet names table not found: {path} (scripts/make_imagenet_names.py writes it)")
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if len(rows) != N_CLASSES or [int(r["class"]) for r in rows] != list(range(N_CLASSES)):
        raise NamesTableError(f"{path}: expected the {N_CLASSES} ImageNet classes in order, got {len(rows)} rows")
    for line, r in enumerate(rows, start=2):
        if not r["name"] or not r["plural"] or r["kind"] not in ("object", "place", "person") or r["use"] not in ("yes", "no"):
            raise NamesTableError(f"{path}, line {line}: needs name, plural, kind object/place/person and use yes/no")
        if r["use"] == "no" and not r["reason"]:
            raise NamesTableError(f"{path}, line {line}: an excluded class needs its reason")
        if r["kind"] == "place" and not r["place"]:
            raise NamesTableError(f"{path}, line {line}: a place needs its phrase")
    return ImageNetNames(
        wnids=tuple(r["wnid"] for r in rows),
        labels=tuple(r["imagenet_label"] for r in rows),
        names=tuple(r["name"] for r in rows),
        plurals={r["name"]: r["plural"] for r in rows},
        categories=tuple(r["category"] for r in rows),
        kinds=tuple(r["kind"] for r in rows),
        place_phrases={r["name"]: tuple(r["place"].split()) for r in rows if r["kind"] == "place"},
        usable=np.array([r["use"] == "yes" for r in rows]),
    )
