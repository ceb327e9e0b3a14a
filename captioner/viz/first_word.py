"""Which word of a caption to show first: the first one that names something in the picture.

A caption's first word is nearly always "a" or "there", whose attention says little; a reader
shown "a" first sees a map of nothing in particular. The words skipped are English function words,
the captions' lead-ins ("a picture of", "there is"), and the adjectives of the shipped models'
worlds (sizes and colours), so "a picture of two small blue stars" shows "stars" first.
"""

from __future__ import annotations

from collections.abc import Sequence

from captioner.data import objects, synth

_FUNCTION_WORDS = {
    "a",
    "an",
    "the",
    "one",
    "some",
    "several",
    "many",
    "and",
    "or",
    "with",
    "without",
    "of",
    "in",
    "on",
    "at",
    "by",
    "to",
    "from",
    "for",
    "near",
    "next",
    "beside",
    "behind",
    "under",
    "over",
    "above",
    "below",
    "left",
    "right",
    "front",
    "top",
    "bottom",
    "middle",
    "there",
    "is",
    "are",
    "it",
    "its",
    "this",
    "that",
    "these",
    "those",
    "has",
    "have",
    "who",
    "which",
    "while",
    "very",
    "other",
    "another",
}
_LEAD_IN_WORDS = {w for lead in (*synth.LEAD_INS, *objects.LEAD_INS) for w in lead}
NOT_NAMING = frozenset(
    _FUNCTION_WORDS
    | _LEAD_IN_WORDS
    | set(synth.COLORS)
    | set(synth.NUMBER_WORDS.values())
    | {w for words in synth.SIZE_WORDS.values() for w in words}
    | {w for words in synth.RELATIONS.values() for w in words}
)


def first_naming_word(words: Sequence[str]) -> int:
    """Index of the first word that is not in NOT_NAMING (0 when every word is, or none is given)."""
    return next((i for i, word in enumerate(words) if word.lower() not in NOT_NAMING), 0)
