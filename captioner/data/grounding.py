"""Which generated words name which object: `GroundedPhrase`, the table that picks the grounding
functions for a data set, and those of the coloured-shapes scenes (data set "synth").

Every grounded world has a module with `ground_caption(words, objects) -> list[GroundedPhrase]`
and `objects_named(words, objects) -> bool`; `grounding_for` finds it by the data set's name
(the Karpathy file's top-level "dataset"), importing it only when asked.

On the shapes scenes:
A generated caption is read phrase by phrase: a shape word ("circle", "circles") together with
the colour word and size word right before it names the objects of that colour and shape (and
size, when the phrase has one). A singular phrase whose description fits exactly one object is
grounded to that object's box; a plural phrase to the union of the boxes of the objects it fits.
Phrases that fit no object (a mistake) or a singular phrase that fits several are not grounded.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from captioner.data.synth import COLORS, PLURALS, SHAPES, SIZE_WORDS

_PLURAL = {p: s for s, p in PLURALS.items()}
_SHAPE_OF = {**{s: s for s in SHAPES}, **_PLURAL}  # shape word, singular or plural -> shape
_SIZE = {word: size for size, words in SIZE_WORDS.items() for word in words}


@dataclass
class GroundedPhrase:
    word_indices: list[int]  # the words of the phrase, in the caption; the last is its head noun
    objects: list[int]  # indices of the objects it names
    color: str | None  # its colour word, if any
    shape: str  # what its head noun names (a shape, or an object's name)


# Data set name -> the module with its grounding functions. Data sets without objects need none.
GROUNDING_MODULES = {
    "synth": __name__,  # coloured shapes: this module
    "objects": "captioner.data.objects",  # photographed objects
}
DEFAULT_GROUNDING = "synth"  # for records that do not name their data set (files from before the field)


def grounding_for(dataset: str | None) -> ModuleType:
    """The module with `ground_caption` and `objects_named` for a data set's name."""
    name = dataset or DEFAULT_GROUNDING
    if name not in GROUNDING_MODULES:
        raise ValueError(f"no grounding for data set {name!r}; known: {', '.join(GROUNDING_MODULES)}")
    return importlib.import_module(GROUNDING_MODULES[name])


def ground_caption(words: list[str], objects: list[dict]) -> list[GroundedPhrase]:
    phrases = []
    for j, word in enumerate(words):
        shape = _SHAPE_OF.get(word)
        if shape is None:
            continue
        plural = word in _PLURAL
        indices, color, size = [j], None, None
        k = j - 1
        if k >= 0 and words[k] in COLORS:
            color = words[k]
            indices.insert(0, k)
            k -= 1
        if k >= 0 and words[k] in _SIZE:
            size = _SIZE[words[k]]
            indices.insert(0, k)
        fits = [
            i
            for i, obj in enumerate(objects)
            if obj["shape"] == shape and (color is None or obj["color"] == color) and (size is None or obj.get("size") == size)
        ]
        if fits and (plural or len(fits) == 1):
            phrases.append(GroundedPhrase(indices, fits, color, shape))
    return phrases


def objects_named(words: list[str], objects: list[dict]) -> bool:
    """True when every object's colour and shape appear together ("red circle(s)") in the caption."""
    pairs = set()
    for j, word in enumerate(words):
        shape = _SHAPE_OF.get(word)
        if shape and j > 0 and words[j - 1] in COLORS:
            pairs.add((words[j - 1], shape))
    return all((obj["color"], obj["shape"]) in pairs for obj in objects)
