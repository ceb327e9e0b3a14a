"""Does a caption of a real photograph name its main object?

A photo set is a folder with photos.csv (columns file, main_object, accepted, ...): `accepted` lists,
separated by |, the words that count as naming the main object (its name, synonyms, category word).
A caption names it when one of them appears in it as whole words.
"""

from __future__ import annotations

import csv
import dataclasses
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


def photo_report(captioner, photos: str | Path | list[dict], options: DecodingOptions | None = None, **decoding) -> dict:
    """Caption every photo of a set (its folder, or the rows read_photo_set gives); report each
    caption, whether it names the main object, and the rates (over all photos, and over those
    whose object the model was trained on)."""
    options = decoding_options(options, **decoding)
    rows = photos if isinstance(photos, list) else read_photo_set(photos)
    results = captioner.caption([r["path"] for r in rows], options)
    items = []
    for row, result in zip(rows, results):
        hit = names_object(result.words, row["accepted"])
        items.append({"file": row["file"], "main_object": row["main_object"], "known": row.get("known", ""),
                      "caption": result.text, "named": hit is not None, "matched": hit})
    known = [i for i in items if i["known"] == "yes"]
    return {"n_photos": len(items), "decoding": dataclasses.asdict(options), "beam_size": options.beam_size, "named_rate": sum(i["named"] for i in items) / max(1, len(items)),
            "known_named_rate": sum(i["named"] for i in known) / len(known) if known else None,
            "photos": items}
