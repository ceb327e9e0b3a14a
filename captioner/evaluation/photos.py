"""Does a caption of a real photograph name its main object?

A photo set is a folder with photos.csv (columns file, main_object, accepted, ..., kind): `accepted`
lists, separated by |, the words that count as naming the main object (its name, synonyms, category
word). A caption names it when one of them appears in it as whole words. `kind` (object, people or
place; object when absent) says what the photo is of; the naming bars count, per kind: the main
object named by a name (not a category word such as "animal"), a person mentioned, the place named.
"""

from __future__ import annotations

import csv
import dataclasses
from functools import lru_cache
from pathlib import Path

from captioner.decoding.options import DecodingOptions, decoding_options


def read_photo_set(folder: str | Path) -> list[dict]:
    folder = Path(folder)
    table = folder / "photos.csv"
    if not table.is_file():
        raise FileNotFoundError(f"photo set table not found: {table}")
    with table.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for line, row in enumerate(rows, start=2):
        if not row.get("file") or not row.get("accepted"):
            raise ValueError(f"{table}, line {line}: needs file and accepted")
        row["path"] = folder / row["file"]
    return rows


def names_object(words: list[str], accepted: str) -> str | None:
    """The first accepted phrase that the caption's words contain, or None."""
    text = f" {' '.join(words)} "
    for phrase in accepted.split("|"):
        phrase = " ".join(phrase.lower().split())
        if phrase and f" {phrase} " in text:
            return phrase
    return None


def names_by_name(words: list[str], row: dict) -> str | None:
    """The first accepted phrase the caption contains that is a name, not only a category word
    ("animal", "tool"), unless that word is the photo's main object itself ("fish")."""
    from captioner.recognition.names import CATEGORY_PHRASES

    text = f" {' '.join(words)} "
    for phrase in row["accepted"].split("|"):
        phrase = " ".join(phrase.lower().split())
        generic = phrase in CATEGORY_PHRASES or phrase in GENERIC_WORDS
        if phrase and f" {phrase} " in text and (not generic or phrase == row.get("main_object")):
            return phrase
    return None


GENERIC_WORDS = {"tool", "dish", "toy", "tree", "other", "light", "food", "plant"}  # the stamps' categories beyond CATEGORY_PHRASES


def wrong_name(words: list[str], row: dict) -> bool:
    """Whether a caption that does not name the photo's main object gives it some other name (a
    confident wrong name), rather than a category word ("an animal", "two birds") or "something".
    Where the picture is ("on tree bark", "on a beach") names no object: those phrases are left out."""
    if names_by_name(words, row) is not None:
        return False
    vague = _vague_words()
    return any(w not in vague for w in _without_scene_phrases(words))


@lru_cache(maxsize=1)
def _vague_words() -> frozenset[str]:
    """Words that name no particular object: category words (also in the plural), "something"..."""
    from captioner.recognition.names import CATEGORY_PHRASES, plural

    vague = set(CATEGORY_PHRASES) | GENERIC_WORDS
    return frozenset(vague | {plural(w) for w in vague} | FUNCTION_WORDS | {"something", "photo", "picture"})


@lru_cache(maxsize=1)
def _scene_phrases() -> tuple[tuple[str, ...], ...]:
    """The phrases that say where a picture is, longest first: the decoder's backgrounds ("by the
    sea") and the places of the ImageNet names table ("on a beach")."""
    from captioner.data.objects import TEMPLATES, TEXTURES
    from captioner.recognition.names import load_names

    phrases = {tuple(p) for p in list(TEMPLATES.values()) + list(TEXTURES.values()) if p}
    phrases |= set(load_names().place_phrases.values())
    return tuple(sorted(phrases, key=len, reverse=True))


def _without_scene_phrases(words: list[str]) -> list[str]:
    """The words of a caption less its _scene_phrases."""
    kept, k = [], 0
    while k < len(words):
        n = next((len(p) for p in _scene_phrases() if tuple(words[k : k + len(p)]) == p), 0)
        if n:
            k += n
        else:
            kept.append(words[k])
            k += 1
    return kept


FUNCTION_WORDS = {
    "a",
    "an",
    "and",
    "of",
    "the",
    "by",
    "on",
    "in",
    "at",
    "some",
    "two",
    "three",
    "four",
    "many",
    "to",
    "left",
    "right",
    "above",
    "below",
    "there",
    "is",
}


def naming_rates(items: list[dict]) -> dict:
    """Per kind of photo: how many, the rate its bar counts (object: named by name; people: a
    person mentioned; place: the place named), and how often a wrong name was given instead."""
    rates = {}
    for kind in ("object", "people", "place"):
        hits = [i["by_name"] for i in items if i["kind"] == kind]
        wrong = [i["wrong_name"] for i in items if i["kind"] == kind]
        rates[kind] = {
            "n": len(hits),
            "rate": sum(hits) / len(hits) if hits else None,
            "wrong_name_rate": sum(wrong) / len(wrong) if wrong else None,
        }
    return rates


def photo_report(captioner, photos: str | Path | list[dict], options: DecodingOptions | None = None, **decoding) -> dict:
    """Caption every photo of a set (its folder, or the rows read_photo_set gives); report each
    caption, whether it names the main object, and the rates (over all photos, and over those
    whose object the model was trained on)."""
    options = decoding_options(options, **decoding)
    rows = photos if isinstance(photos, list) else read_photo_set(photos)
    results = captioner.caption([r["path"] for r in rows], options)
    items = []
    for row, result in zip(rows, results):
        items.append(photo_item(row, result))
    known = [i for i in items if i["known"] == "yes"]
    return {
        "n_photos": len(items),
        "decoding": dataclasses.asdict(options),
        "beam_size": options.beam_size,
        "named_rate": sum(i["named"] for i in items) / max(1, len(items)),
        "known_named_rate": sum(i["named"] for i in known) / len(known) if known else None,
        "by_kind": naming_rates(items),
        "photos": items,
    }


def photo_item(row: dict, result) -> dict:
    """One photo's line of a report: its caption and whether it names what the photo is of."""
    hit = names_object(result.words, row["accepted"])
    exact = names_by_name(result.words, row)
    return {
        "file": row["file"],
        "main_object": row["main_object"],
        "known": row.get("known", ""),
        "kind": row.get("kind") or "object",
        "caption": result.text,
        "named": hit is not None,
        "matched": hit,
        "by_name": exact is not None,
        "wrong_name": wrong_name(result.words, row),
        "objects": [o.to_json() for o in getattr(result, "objects", [])],
    }
