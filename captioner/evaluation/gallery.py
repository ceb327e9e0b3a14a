"""A photo-by-photo gallery of a photo set: each picture with the heatmap of the word that names
its main object, the decoder's own caption beside the caption with naming, and where the name
came from ("looked here: tabby → cat 0.99, ImageNet classifier").

`python scripts/make_naming_gallery.py` writes docs/naming-gallery.md from data/photos; it is the
page to look at when a figure of docs/naming.md needs explaining.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from captioner.evaluation.photos import photo_item, read_photo_set
from captioner.viz.first_word import first_naming_word
from captioner.viz.render import overlay

THUMBNAIL_SIDE = 192  # the longer side of each picture on the page


def shown_word(result) -> int:
    """The word whose heatmap a picture shows: the first object word with a name from the
    recognisers or the decoder (CaptionResult.objects), else the first word that names anything."""
    objects = getattr(result, "objects", None) or []
    return objects[0].index if objects else first_naming_word(result.words)


def gallery_rows(captioner, rows: Sequence[dict], images_dir: Path, beam_size: int = 3, side: int = THUMBNAIL_SIDE) -> list[dict]:
    """Caption each photo (a row of read_photo_set), save its picture with the shown word's
    heatmap as images_dir/<stem>.jpg, and return one dict per photo for the page."""
    from captioner.decoding.options import DecodingOptions
    from captioner.recognition.naming import looked_here

    images_dir.mkdir(parents=True, exist_ok=True)
    out = []
    # the stream keeps each image it read for the caption: the picture needs no second read
    for row, captioned in zip(rows, captioner.stream([r["path"] for r in rows], DecodingOptions(beam_size=beam_size), keep_images=True)):
        if captioned.error is not None:
            raise captioned.error
        result, picture = captioned.result, captioned.image.copy()
        k = shown_word(result)
        picture.thumbnail((side, side), Image.Resampling.BICUBIC)
        path = images_dir / f"{Path(row['file']).stem}.jpg"
        overlay(picture, result.attention[k]).save(path, "JPEG", quality=82)
        item = photo_item(row, result)
        out.append(
            {
                **item,
                "picture": path,
                "word": result.words[k],
                "words": list(result.words),  # a name may be several words ("komodo dragon"): bold it by place
                "index": k,
                "decoder_caption": getattr(result, "decoder_text", None) or result.text,
                "looked_here": looked_here(result, k) or "",
                "licence": row.get("licence", ""),
            }
        )
    return out


def write_gallery(captioner, photos: str | Path, page: Path, images_dir: Path, beam_size: int = 3) -> Path:
    """The gallery page of the photo set in folder `photos` (its photos.csv), pictures in
    `images_dir` (linked relative to the page)."""
    rows = read_photo_set(photos)
    items = gallery_rows(captioner, rows, images_dir, beam_size)
    named = {kind: [i["by_name"] for i in items if i["kind"] == kind] for kind in ("object", "people", "place")}
    summary = ", ".join(f"{kind}: {sum(v)} of {len(v)}" for kind, v in named.items() if v)
    lines = [
        "# Naming on real photographs: the gallery",
        "",
        f"Made by `python scripts/make_naming_gallery.py` (beam {beam_size}) from {Path(photos).parent.name}/{Path(photos).name}/photos.csv: "
        "each photo with the heatmap of the word that names its main object (the word in bold), the decoder's own "
        "caption, the caption with naming, and where the name came from. *named*: the main object by a name "
        "(object photos), a person (people photos), the place (place photos); the figures and how they were "
        f"chosen are in [naming.md](naming.md). Named here: {summary}. Each picture is a copy of a photo of the set under "
        "that photo's own licence (last column; sources in its photos.csv).",
        "",
        "| picture | what it shows | decoder only | with naming | named | where the name came from | licence |",
        "|---|---|---|---|---|---|---|",
    ]
    for i in items:
        link = Path(os.path.relpath(Path(i["picture"]).resolve(), page.resolve().parent)).as_posix()
        caption = " ".join(f"**{w}**" if j == i["index"] else w for j, w in enumerate(i["words"]))
        lines.append(
            f"| ![{i['file']}]({link}) | {i['kind']}: {i['main_object']} | {i['decoder_caption']} | {caption} "
            f"| {'yes' if i['by_name'] else '-'} | {i['looked_here']} | {i['licence'].replace('|', '/')} |"
        )
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text("\n".join(lines) + "\n")
    return page
