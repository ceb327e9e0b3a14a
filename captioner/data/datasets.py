"""Caption data sets on disk, read into plain records, plus a small torch Dataset for training.

Formats read (none can be downloaded here; see data/README for where users get them):
- Karpathy split files (dataset_coco.json, dataset_flickr8k.json, dataset_flickr30k.json) and the
  project's synthetic dataset_synth.json, which adds per-image "objects" (with pixel boxes) and
  per-sentence "grounding" (one entry per token): load_karpathy().
- COCO caption annotations (captions_train2014.json style), through pycocotools: load_coco().
- A folder of images with captions.jsonl or captions.csv: load_caption_folder().
load_dataset() picks the loader from what the path is.

Every loader returns list[CaptionRecord] and reports bad input as DatasetError, whose message starts
with the offending file. Captions are stored tokenised (lower-case word tokens, no punctuation).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from captioner.vocab import tokenize  # noqa: F401  (tokenize is part of this module's API)

DEFAULT_SPLIT_FRACTIONS = (0.9, 0.05, 0.05)  # train / val / test for images the data gives no split
CAPTION_FILES = ("captions.jsonl", "captions.csv")


class DatasetError(ValueError):
    """A caption data set file is missing or malformed; the message names the file."""


@dataclass
class CaptionRecord:
    """One image with its reference captions.

    captions:   tokenised references, one token list per caption.
    objects:    grounded objects ({"shape", "color", "size", "box": [x0, y0, x1, y1], ...}); only the
                synthetic data has them. Boxes are half-open pixel boxes.
    groundings: aligned with `captions` when the file has per-token grounding: for each caption a list
                with one entry per token (None, an object index, or a list of object indices), or None
                for a caption without grounding.
    """

    image_path: Path
    captions: list[list[str]]
    split: str
    image_id: str | int
    objects: list[dict] | None = None
    groundings: list[list | None] | None = None
    dataset: str | None = None  # the Karpathy file's top-level "dataset" ("coco", "synth", "objects", ...)


def assign_split(name: str, fractions: Sequence[float] = DEFAULT_SPLIT_FRACTIONS) -> str:
    """Deterministic train/val/test split for an image from a hash of its name.

    sha1 rather than hash(): Python salts str hashes per process, and a split must not change
    between runs or machines.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")
    u = int.from_bytes(hashlib.sha1(name.encode("utf-8")).digest()[:8], "big") / 2.0**64
    if u < fractions[0]:
        return "train"
    return "val" if u < fractions[0] + fractions[1] else "test"


# ---------------------------------------------------------------------------------------------
# small helpers for clear errors


def _read_json(path: Path):
    if not path.is_file():
        raise DatasetError(f"{path}: file not found" if not path.exists() else f"{path}: not a file")
    try:
        with path.open("r", encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from e
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: not UTF-8 text ({e})") from e


def _require(obj, key: str, source: Path, where: str, kind: type | tuple = object):
    """obj[key], or a DatasetError naming the file, the place in it and what is missing."""
    if not isinstance(obj, dict):
        raise DatasetError(f"{source}: {where} should be a JSON object, got {type(obj).__name__}")
    if key not in obj:
        raise DatasetError(f"{source}: {where} has no {key!r} key")
    value = obj[key]
    if not isinstance(value, kind):
        names = "/".join(k.__name__ for k in kind) if isinstance(kind, tuple) else kind.__name__
        raise DatasetError(f"{source}: {where}[{key!r}] should be {names}, got {type(value).__name__}")
    return value


def _id(value, source: Path, where: str):
    """An image id as the file gives it: a whole number or a text (anything else cannot key an index)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise DatasetError(f"{source}: {where} should be a whole number or a text, got {type(value).__name__} {str(value)[:40]}")
    return value


def _check_images(records: list[CaptionRecord], source: Path, root: Path) -> None:
    missing = [str(r.image_path) for r in records if not r.image_path.is_file()]
    if missing:
        raise DatasetError(
            f"{source}: {len(missing)} of {len(records)} images are missing under {root}, "
            f"e.g. {', '.join(missing[:3])} (wrong image root? check_images=False skips this check)"
        )


def check_training_data(records: Sequence[CaptionRecord], source) -> None:
    """DatasetError, naming `source` and the record, unless the records can train a model: some
    images in the train split, and every caption of a training or validation image has words."""
    if not any(r.split == "train" for r in records):
        splits = sorted({r.split for r in records})
        raise DatasetError(f"{source}: no images in the train split ({len(records)} images" + (f", splits {splits})" if splits else ")"))
    for n, record in enumerate(records):
        if record.split not in ("train", "val"):
            continue
        where = f"{source}: image {record.image_id!r} ({record.split}, record {n + 1})"
        if not record.captions:
            raise DatasetError(f"{where} has no captions")
        for k, caption in enumerate(record.captions):
            if not caption or not all(isinstance(t, str) and t for t in caption):
                raise DatasetError(
                    f"{where}: caption {k + 1} has no words" if not caption else f"{where}: caption {k + 1} holds an empty word"
                )


# ---------------------------------------------------------------------------------------------
# Karpathy split files and dataset_synth.json


def load_karpathy(json_path, image_root=None, *, restval_as_train: bool = True, check_images: bool = True) -> list[CaptionRecord]:
    """Records from a Karpathy split file (or dataset_synth.json).

    Image paths are image_root / filepath / filename (filepath is absent in the Flickr files);
    image_root defaults to the JSON's folder. "restval" (COCO images Karpathy kept out of val/test)
    becomes "train" unless restval_as_train=False, as in Karpathy's and the usual tutorials' training.
    The file's own tokens are used as given (lower-cased), so synthetic grounding stays aligned;
    a sentence with only "raw" text is tokenised with tokenize(). image_id is "cocoid" when present
    (so predictions match COCO annotation ids), else "imgid", else the file name.
    """
    path = Path(json_path)
    return _karpathy_records(_read_json(path), path, image_root, restval_as_train, check_images)


def _karpathy_records(data, source: Path, image_root, restval_as_train: bool = True, check_images: bool = True) -> list[CaptionRecord]:
    root = Path(image_root) if image_root is not None else source.parent
    images = _require(data, "images", source, "the top level", list)
    dataset = data.get("dataset") if isinstance(data.get("dataset"), str) else None
    records, seen = [], {}
    for n, img in enumerate(images):
        where = f"images[{n}]"
        filename = _require(img, "filename", source, where, str)
        if not filename:
            raise DatasetError(f"{source}: {where}['filename'] is empty")
        split = _require(img, "split", source, where, str)
        sentences = _require(img, "sentences", source, where, list)
        if split == "restval" and restval_as_train:
            split = "train"
        image_id = _id(img.get("cocoid", img.get("imgid", filename)), source, f"{where}'s id (cocoid/imgid)")
        if image_id in seen:
            raise DatasetError(f"{source}: {where} repeats image id {image_id!r} of images[{seen[image_id]}]")
        seen[image_id] = n
        objects = _objects(img, source, where)
        captions, groundings = [], []
        for k, sentence in enumerate(sentences):
            swhere = f"{where}.sentences[{k}]"
            if not isinstance(sentence, dict):
                raise DatasetError(f"{source}: {swhere} should be a JSON object, got {type(sentence).__name__}")
            if "tokens" in sentence:
                tokens = _require(sentence, "tokens", source, swhere, list)
                if not all(isinstance(t, (str, int, float)) and not isinstance(t, bool) for t in tokens):
                    raise DatasetError(f"{source}: {swhere}['tokens'] should hold words (texts)")
                tokens = [str(t).lower() for t in tokens]
            elif "raw" in sentence:
                tokens = tokenize(_require(sentence, "raw", source, swhere, str))
            else:
                raise DatasetError(f"{source}: {swhere} has neither a 'tokens' nor a 'raw' key")
            captions.append(tokens)
            groundings.append(_grounding(sentence, tokens, objects, source, swhere))
        records.append(
            CaptionRecord(
                image_path=root / img.get("filepath", "") / filename,
                captions=captions,
                split=split,
                image_id=image_id,
                objects=objects,
                groundings=groundings if any(g is not None for g in groundings) else None,
                dataset=dataset,
            )
        )
    if check_images:
        _check_images(records, source, root)
    return records


def _objects(img: dict, source: Path, where: str) -> list[dict] | None:
    objects = img.get("objects")
    if objects is None:
        return None
    if not isinstance(objects, list):
        raise DatasetError(f"{source}: {where}['objects'] should be a list")
    for i, obj in enumerate(objects):
        box = _require(obj, "box", source, f"{where}.objects[{i}]", list)
        if len(box) != 4 or not all(isinstance(v, (int, float)) for v in box) or box[2] <= box[0] or box[3] <= box[1]:
            raise DatasetError(f"{source}: {where}.objects[{i}] box {box} is not [x0, y0, x1, y1] with x0 < x1, y0 < y1")
    return objects


def _grounding(sentence: dict, tokens: list[str], objects: list[dict] | None, source: Path, where: str):
    grounding = sentence.get("grounding")
    if grounding is None:
        return None
    if not isinstance(grounding, list) or len(grounding) != len(tokens):
        raise DatasetError(f"{source}: {where}['grounding'] should be a list with one entry per token ({len(tokens)} tokens)")
    n_objects = len(objects or [])
    for entry in grounding:
        indices = entry if isinstance(entry, list) else [] if entry is None else [entry]
        if not all(isinstance(i, int) and 0 <= i < n_objects for i in indices):
            raise DatasetError(f"{source}: {where}['grounding'] entry {entry!r} is not an index into this image's {n_objects} objects")
    return grounding


# ---------------------------------------------------------------------------------------------
# COCO caption annotations


def load_coco(annotation_json, image_dir, split: str | None = None, *, check_images: bool = True) -> list[CaptionRecord]:
    """Records from a COCO captions annotation file, indexed by pycocotools' COCO class.

    Image paths are image_dir / file_name; image_id is COCO's id. Every record gets `split` when
    given; otherwise the split named in the file name ("captions_val2014.json" -> "val"), and where
    the name has none, assign_split() of the image's file name. Images without any caption are left out.
    """
    path = Path(annotation_json)
    return _coco_records(_read_json(path), path, image_dir, split, check_images)


def _coco_records(data, source: Path, image_dir, split: str | None = None, check_images: bool = True) -> list[CaptionRecord]:
    from pycocotools.coco import COCO

    root = Path(image_dir) if image_dir is not None else source.parent
    images = _require(data, "images", source, "the top level", list)
    annotations = _require(data, "annotations", source, "the top level", list)
    # check the keys COCO's index relies on, so a bad file fails here with its name, not as a KeyError
    for n, img in enumerate(images):
        _id(_require(img, "id", source, f"images[{n}]"), source, f"images[{n}]['id']")
        _require(img, "file_name", source, f"images[{n}]", str)
    image_ids = {img["id"] for img in images}
    for n, ann in enumerate(annotations):
        _require(ann, "caption", source, f"annotations[{n}]", str)
        if _id(_require(ann, "image_id", source, f"annotations[{n}]"), source, f"annotations[{n}]['image_id']") not in image_ids:
            raise DatasetError(f"{source}: annotations[{n}] refers to image_id {ann['image_id']!r}, which is not in 'images'")

    # The JSON is already parsed (for the errors above); hand it to COCO instead of reading the file
    # twice. createIndex() prints progress, which a library should not.
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()

    if split is None:
        named = re.search(r"(train|val|test)", source.stem.lower())
        split = named.group(1) if named else None
    records = []
    for image_id in coco.getImgIds():
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[image_id]))
        if not anns:
            continue
        file_name = coco.imgs[image_id]["file_name"]
        records.append(
            CaptionRecord(
                image_path=root / file_name,
                captions=[tokenize(a["caption"]) for a in anns],
                split=split or assign_split(file_name),
                image_id=image_id,
            )
        )
    if check_images:
        _check_images(records, source, root)
    return records


# ---------------------------------------------------------------------------------------------
# a folder of images with captions.jsonl / captions.csv


def load_caption_folder(
    folder, *, captions_file=None, check_images: bool = True, split_fractions: Sequence[float] = DEFAULT_SPLIT_FRACTIONS
) -> list[CaptionRecord]:
    """Records from a folder of images described by captions.jsonl or captions.csv.

    JSONL: one object a line, {"image": "rel/path.jpg", "caption": "text"} or {..., "captions": [...]},
    optional "split". CSV: a header with columns image, caption and optionally split.
    Image paths are relative to the folder. Lines for the same image are merged; an image with no
    split on any line gets assign_split(its relative path, split_fractions). image_id is the
    relative path. `captions_file` names another captions file (.jsonl or .csv) to read instead.
    """
    folder = Path(folder)
    if captions_file is not None:
        path = Path(captions_file)
    else:
        if not folder.is_dir():
            raise DatasetError(f"{folder}: folder not found" if not folder.exists() else f"{folder}: not a folder")
        present = [folder / name for name in CAPTION_FILES if (folder / name).is_file()]
        if not present:
            raise DatasetError(f"{folder}: has neither {' nor '.join(CAPTION_FILES)}")
        if len(present) > 1:
            raise DatasetError(f"{folder}: has both {' and '.join(CAPTION_FILES)}; keep one")
        path = present[0]
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    rows = _read_csv(path) if path.suffix.lower() == ".csv" else _read_jsonl(path)

    merged: dict[str, dict] = {}  # insertion order = first appearance in the file
    for line, image, captions, split in rows:
        key = Path(image).as_posix()
        entry = merged.setdefault(key, {"captions": [], "split": None, "split_line": None})
        entry["captions"].extend(captions)
        if split is not None:
            if entry["split"] is not None and entry["split"] != split:
                raise DatasetError(
                    f"{path}: line {line} puts {image!r} in split {split!r}, but line {entry['split_line']} put it in {entry['split']!r}"
                )
            entry["split"], entry["split_line"] = split, line
    if not merged:
        raise DatasetError(f"{path}: no captions in the file")

    records = [
        CaptionRecord(
            image_path=folder / key,
            captions=[tokenize(c) for c in entry["captions"]],
            split=entry["split"] or assign_split(key, split_fractions),
            image_id=key,
        )
        for key, entry in merged.items()
    ]
    if check_images:
        _check_images(records, path, folder)
    return records


def _clean_split(value) -> str | None:
    """A split name, or None where the row leaves it empty."""
    if value is None:
        return None
    value = str(value).strip().lower()
    return value or None


def _read_jsonl(path: Path):
    """(line number, image, [captions], split or None) per non-blank line."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: not UTF-8 text ({e})") from e
    rows = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            raise DatasetError(f"{path}: line {line} is not valid JSON ({e.msg})") from e
        where = f"line {line}"
        image = _require(obj, "image", path, where, str)
        captions = []
        if "caption" in obj:
            captions.append(_require(obj, "caption", path, where, str))
        if "captions" in obj:
            many = _require(obj, "captions", path, where, list)
            if not all(isinstance(c, str) for c in many):
                raise DatasetError(f"{path}: {where}['captions'] should be a list of strings")
            captions.extend(many)
        if "caption" not in obj and "captions" not in obj:
            raise DatasetError(f"{path}: {where} has neither a 'caption' nor a 'captions' key")
        _check_captions(captions, path, where)
        rows.append((line, image, captions, _clean_split(obj.get("split"))))
    return rows


def _read_csv(path: Path):
    """(line number, image, [caption], split or None) per row."""
    rows = []
    try:
        # utf-8-sig: spreadsheets often start CSV exports with a byte-order mark
        with path.open("r", encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            columns = [c.strip().lower() for c in (reader.fieldnames or [])]
            if "image" not in columns or "caption" not in columns:
                raise DatasetError(
                    f"{path}: the header should name columns 'image' and 'caption' (and optionally 'split'), found {columns}"
                )
            reader.fieldnames = columns
            for row in reader:
                where = f"line {reader.line_num}"
                image, caption = (row.get("image") or "").strip(), row.get("caption") or ""
                if not image:
                    raise DatasetError(f"{path}: {where} has no image")
                _check_captions([caption], path, where)
                rows.append((reader.line_num, image, [caption], _clean_split(row.get("split"))))
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: not UTF-8 text ({e})") from e
    except csv.Error as e:
        raise DatasetError(f"{path}: not valid CSV ({e})") from e
    return rows


def _check_captions(captions: list[str], path: Path, where: str) -> None:
    if not captions or any(not tokenize(c) for c in captions):
        raise DatasetError(f"{path}: {where} has an empty caption")


# ---------------------------------------------------------------------------------------------
# one entry point


def load_dataset(path, image_root=None, **options) -> list[CaptionRecord]:
    """Load any supported caption data set, choosing the loader from what `path` is.

    A folder -> load_caption_folder; a .jsonl/.csv file -> load_caption_folder with that captions file
    (images relative to image_root, default the file's folder); a JSON file with "images" and
    "annotations" -> load_coco; a JSON file whose "images" carry "sentences" -> load_karpathy.
    image_root defaults to the file's folder. `options` go to the chosen loader.
    """
    path = Path(path)
    if path.is_dir():
        if image_root is not None:
            raise DatasetError(f"{path}: a caption folder holds its own images; image_root does not apply")
        return load_caption_folder(path, **options)
    if path.suffix.lower() in (".jsonl", ".csv"):
        return load_caption_folder(image_root if image_root is not None else path.parent, captions_file=path, **options)
    data = _read_json(path)
    if isinstance(data, dict) and "annotations" in data and "images" in data:
        return _coco_records(data, path, image_root, options.pop("split", None), **options)
    images = data.get("images") if isinstance(data, dict) else None
    if isinstance(images, list) and images and isinstance(images[0], dict) and "sentences" in images[0]:
        return _karpathy_records(data, path, image_root, options.pop("restval_as_train", True), **options)
    raise DatasetError(
        f"{path}: not a recognised caption data set (expected a Karpathy split file, "
        f"whose 'images' have 'sentences', or COCO captions with 'images' and 'annotations')"
    )


def references(records: Iterable[CaptionRecord]) -> dict:
    """{image_id: [caption text, ...]}: the references in the form metrics.caption_metrics takes."""
    return {r.image_id: [" ".join(c) for c in r.captions] for r in records}
