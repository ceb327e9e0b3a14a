"""Measure naming on real photographs: the decoder's words only (the old default) against the
designs of captioner/recognition/naming.py, with thresholds chosen on the tuning set only.

    python scripts/measure_naming.py [--out results/naming-photos.json] [--no-detector]

Each photo is encoded and decoded once (beam 3); the designs then rename copies of the same
captions, so every design and threshold sees the same decoder output. Calibration: a grid of
thresholds, scored on data/photos-tuning by the mean of its per-kind rates (objects named by name,
places named) less the rate of object photos given a wrong name, ties to the higher thresholds. The evaluation set
(data/photos) is then captioned with the chosen thresholds and never used to choose them.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import itertools
import json
import time
from pathlib import Path

import numpy as np
import torch

from captioner.evaluation.photos import naming_rates, photo_item, read_photo_set
from captioner.pipeline import Captioner, default_model_dir
from captioner.recognition.crops import CropClassifier
from captioner.recognition.naming import DETECTOR_SIDE, POOLED_THRESHOLDS, Namer, Thresholds, default_detector

ROOT = Path(__file__).resolve().parents[1]
DECODER_GRID = (0.3,)  # the previous default; earlier runs tried 0.05 to 1.01 (docs/naming.md)
GRID = {"name": (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9), "category": (0.3, 0.5, 0.7), "place": (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)}
STAMP_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
# the stamps' name within the decoder's own category word: chosen after the grid, the others fixed
STAMP_CATEGORY_GRID = (None, 0.5, 0.6, 0.7, 0.8, 0.9)
# then the two views agreeing (the attended region's name at >= the first, the whole picture's same
# name at >= the second)
AGREED_GRID = ((None, 0.6),) + tuple(itertools.product((0.3, 0.4, 0.5, 0.6, 0.7, 0.8), (0.5, 0.6, 0.7, 0.8)))
# then the whole picture's other name making the region's sure name unsure, at this probability or more
CONTRADICTED_GRID = (None, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
DEFAULT_DESIGN = "domain + classifier + stamps (default)"
CROPS_DESIGN = "domain + classifier on pooled features and crops + stamps"
POOLED_DESIGN = "domain + evidence ladder (pooled)"
# The pooled design's own thresholds (category and place: as the default's grid chose them): the
# classifier's attended-region share, its name, the stamps, the detector, the decoder's name backed.
POOLED_GRID = {
    "attended": (0.0, 0.5, 1.0),
    "name": (0.6, 0.7, 0.8, 0.9),
    "stamp": (0.6, 0.7, 0.8, 0.9),
    "detector": (None, 0.5, 0.6, 0.7),
    "agree": (None, 0.3),
}


def designs(base: Namer, decoder: float, crops: CropClassifier) -> dict[str, dict]:
    """The designs compared: the previous default (the decoder's sure words kept everywhere), the
    classifier first everywhere, and the decoder's domain tested per image, with and without the
    stamp recogniser; the default with the classifier also on each word's crop (`crops`)."""
    return {
        f"decoder's sure words (p >= {decoder:g}) + classifier (previous default)": dict(design="slots", decoder=decoder),
        "classifier first everywhere": dict(design="slots", decoder=None),
        "domain + classifier": dict(design="slots", decoder=None, domain=base.domain),
        DEFAULT_DESIGN: dict(design="slots", decoder=None, domain=base.domain, stamps=base.stamps),
        CROPS_DESIGN: dict(design="slots", decoder=None, domain=base.domain, stamps=base.stamps, crops=crops),
        POOLED_DESIGN: dict(design="pooled", decoder=None, domain=base.domain, stamps=base.stamps),
    }


class GridNamer(Namer):
    """A Namer whose recognisers' answers per photo are computed once: they do not depend on the
    thresholds that the grid varies."""

    cache: dict = {}

    def _slots(self, words, attention, features, image=None):
        key = (id(features), tuple(words), self.stamps is not None, self.crops is not None and image is not None, self.design)
        if key not in self.cache:
            self.cache[key] = (features, super()._slots(words, attention, features, image))
        return copy.deepcopy(self.cache[key][1])


def threshold_grid(options: dict, default: Thresholds | None):
    """The thresholds a design is calibrated over on the tuning set."""
    if options["design"] == "pooled":
        for values in itertools.product(*POOLED_GRID.values()):
            yield dataclasses.replace(default, **dict(zip(POOLED_GRID, values)))
        return
    stamp_grid = STAMP_GRID if options.get("stamps") is not None else (1.01,)
    for name, category, place, stamp in itertools.product(*GRID.values(), stamp_grid):
        if options["design"] == "gate" and category != GRID["category"][0]:
            continue  # the gate has no category fallback
        yield Thresholds(
            name=name,
            category=category,
            place=place,
            stamp=stamp,
            decoder=options["decoder"],
            stamp_category=None,
            agreed=None,
            contradicted=None,
        )


def refinements(options: dict, chosen: Thresholds, rung: str) -> list[Thresholds]:
    """After the grid, rung by rung (REFINEMENTS), each tried with the thresholds chosen before it:
    the stamps' name within the decoder's category word, the two views agreeing, then the whole
    picture contradicting the region's sure name."""
    if options["design"] != "slots":
        return []
    if rung == "stamp_category":
        return [dataclasses.replace(chosen, stamp_category=v) for v in STAMP_CATEGORY_GRID] if options.get("stamps") is not None else []
    if rung == "agreed":
        return [dataclasses.replace(chosen, agreed=region, agreed_whole=whole) for region, whole in AGREED_GRID]
    return [dataclasses.replace(chosen, contradicted=value) for value in CONTRADICTED_GRID]


REFINEMENTS = ("stamp_category", "agreed", "contradicted")


def choose(base: Namer, detector, options: dict, tuning, candidates, best: tuple | None = None) -> tuple:
    """(key, thresholds) of the candidates scoring best on the tuning photos, or `best` if none
    beats it; ties go to the higher thresholds (a rung left out counts as the highest)."""
    for thresholds in candidates:
        s = score(naming_rates(renamed(make_namer(base, detector, thresholds, options), tuning)))
        key = (s, *(1.01 if v is None else v for v in dataclasses.astuple(thresholds)))
        if best is None or key > best[0]:
            best = (key, thresholds)
    return best


def make_namer(base: Namer, detector, thresholds: Thresholds, options: dict) -> Namer:
    return GridNamer(
        base.classifier,
        base.lexicon,
        detector=detector,
        thresholds=thresholds,
        design=options["design"],
        word_probabilities=base.word_probabilities if options["decoder"] is not None else None,
        domain=options.get("domain"),
        stamps=options.get("stamps"),
        crops=options.get("crops"),
    )


def decoded(captioner: Captioner, rows: list[dict]) -> list[tuple[dict, object, torch.Tensor, tuple]]:
    """(row, decoder-only result, annotations (L, D), (detector's view, original size)) per photo."""
    from captioner.images.loading import load_image_and_size

    out = []
    loaded_rows = iter(rows)
    for chunk, features in captioner.encoded([r["path"] for r in rows], batch_size=16):
        results = captioner.decode(features, beam_size=3)
        for b, (_loaded, result) in enumerate(zip(chunk, results)):
            row = next(loaded_rows)
            image, size = load_image_and_size(row["path"])
            image.thumbnail((416, 416))
            out.append((row, result, features[b].float(), (image, size)))
    return out


class CachedDetector:
    """The detector run once per photo (at the lowest score any threshold needs), its detections
    then filtered: the threshold grid renames each photo many times."""

    def __init__(self, detector, floor: float = 0.2):
        self.detector, self.floor, self.cache = detector, floor, {}
        self.labels = detector.labels  # the names it can give (Namer: which words it can contradict)

    def detect(self, image, min_score: float = 0.3):
        if id(image) not in self.cache:
            self.cache[id(image)] = (image, self.detector.detect(image, min_score=self.floor))
        return [d for d in self.cache[id(image)][1] if d.score >= min_score]


class CachedWordProbabilities:
    """The decoder's word probabilities computed once per photo (the grid renames each many times)."""

    def __init__(self, probabilities):
        self.probabilities, self.cache = probabilities, {}

    def __call__(self, features, words):
        key = (id(features), tuple(words))
        if key not in self.cache:
            self.cache[key] = (features, self.probabilities(features, words))
        return self.cache[key][1]


def renamed(namer: Namer | None, photos) -> list[dict]:
    items = []
    for row, result, features, (image, size) in photos:
        result = copy.deepcopy(result)
        if namer is not None:
            namer.rename(result, features, image, size)
        items.append(photo_item(row, result))
    return items


def score(rates: dict) -> float:
    values = [r["rate"] for r in rates.values() if r["rate"] is not None and r["n"]]
    return sum(values) / len(values) - rates["object"]["wrong_name_rate"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "naming-photos.json")
    parser.add_argument("--no-detector", action="store_true", help="measure without the people detector")
    parser.add_argument(
        "--decoder",
        type=float,
        default=0.3,
        help="the previous default's decoder threshold: keep the decoder's word at this probability or more",
    )
    parser.add_argument(
        "--scenes",
        type=int,
        metavar="N",
        help="instead: objects named on N generated validation scenes, decoder only and with naming "
        "at several decoder thresholds (needs the Tux Paint stamps in .cache/tuxpaint)",
    )
    parser.add_argument(
        "--table", type=Path, default=ROOT / "docs" / "naming-photos.md", help="write the photo-by-photo table (markdown) here"
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    captioner = Captioner.from_pretrained(device="cpu", naming=False)
    if args.scenes:
        return measure_scenes(captioner, args.scenes)
    detector = None if args.no_detector else default_detector()
    detector = CachedDetector(detector) if detector is not None else None
    tuning = decoded(captioner, read_photo_set(ROOT / "data" / "photos-tuning"))
    evaluation = decoded(captioner, read_photo_set(ROOT / "data" / "photos"))
    base = Namer.for_model(
        captioner.model, default_model_dir(), detector=detector, vocab=captioner.vocab, thresholds=Thresholds(decoder=0.3)
    )
    base.word_probabilities = CachedWordProbabilities(base.word_probabilities)
    report = {"detector": detector is not None, "designs": {}}
    old = renamed(None, evaluation)
    report["designs"]["decoder only (old default)"] = {"evaluation": naming_rates(old), "tuning": naming_rates(renamed(None, tuning))}
    per_photo = {"decoder only (old default)": old}
    chosen = {}
    for design, options in designs(base, args.decoder, CropClassifier.for_model(captioner.model, base.classifier)).items():
        best = choose(base, detector, options, tuning, threshold_grid(options, chosen.get(DEFAULT_DESIGN)))
        for rung in REFINEMENTS:
            best = choose(base, detector, options, tuning, refinements(options, best[1], rung), best)
        thresholds = chosen[design] = best[1]
        namer = make_namer(base, detector, thresholds, options)
        start = time.perf_counter()
        items = renamed(namer, evaluation)
        seconds = (time.perf_counter() - start) / len(evaluation)
        report["designs"][design] = {
            "thresholds": dataclasses.asdict(thresholds),
            "tuning_score": best[0][0],
            "evaluation": naming_rates(items),
            "tuning": naming_rates(renamed(namer, tuning)),
            "seconds_per_photo": seconds,
            "in_domain": sum(namer.domain is not None and bool(namer.domain.contains(f[None])[0]) for _, _, f, _ in evaluation),
        }
        per_photo[design] = items
    report["photos"] = [
        {
            "file": old_item["file"],
            "kind": old_item["kind"],
            "main_object": old_item["main_object"],
            **{
                d: {"caption": per_photo[d][k]["caption"], "by_name": per_photo[d][k]["by_name"], "objects": per_photo[d][k]["objects"]}
                for d in per_photo
            },
        }
        for k, old_item in enumerate(old)
    ]
    if detector is not None:
        report["attention_in_detector_boxes"] = attention_in_boxes(evaluation, base, detector)
        print("attention in the detector's boxes:", report["attention_in_detector_boxes"]["summary"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    for design, r in report["designs"].items():
        print(
            design,
            r.get("thresholds", ""),
            {
                k: (
                    v["n"],
                    None if v["rate"] is None else round(v["rate"], 3),
                    "wrong",
                    None if v["wrong_name_rate"] is None else round(v["wrong_name_rate"], 3),
                )
                for k, v in r["evaluation"].items()
            },
            "tuning",
            {k: None if v["rate"] is None else round(v["rate"], 3) for k, v in r["tuning"].items()},
        )
    write_table(report, args.table)
    print("wrote", args.out, args.table)


def measure_scenes(captioner: Captioner, n: int) -> None:
    """Objects named on generated validation scenes (name, synonym or category, as the scene bars
    count): the decoder alone, the previous default at several decoder thresholds, and the default
    (the decoder's domain tested per scene)."""
    from types import SimpleNamespace

    from captioner.data.objects import World, split_scene
    from captioner.evaluation.evaluate import grounding_report

    world = World(ROOT / ".cache" / "tuxpaint")
    scenes = [split_scene(world, "val", i, seed=0) for i in range(n)]
    features = captioner.encode([s.image for s in scenes])
    results = captioner.decode(features, beam_size=3)
    records = [SimpleNamespace(objects=[o.to_json() for o in s.objects], dataset="objects") for s in scenes]
    sizes = [s.image.size for s in scenes]
    base = Namer.for_model(captioner.model, default_model_dir(), detector=None, vocab=captioner.vocab, thresholds=Thresholds(decoder=0.3))
    print("decoder only", round(grounding_report(records, results, sizes)["objects_named_rate"], 3))

    def named(namer: Namer) -> dict:
        renamed_results = copy.deepcopy(results)
        namer.rename_all(renamed_results, features, [(s.image, s.image.size) for s in scenes])
        return grounding_report(records, renamed_results, sizes)

    for decoder in DECODER_GRID:
        namer = make_namer(base, None, Thresholds(decoder=decoder), dict(design="slots", decoder=decoder))
        report = named(namer)
        print(
            f"previous default, decoder threshold {decoder}: named {report['objects_named_rate']:.3f}, mask count {report['attention']['mask_count']}"
        )
    inside = base.domain.contains(features) if base.domain is not None else torch.zeros(n, dtype=torch.bool)
    report = named(make_namer(base, None, Thresholds(), dict(design="slots", decoder=None, domain=base.domain, stamps=base.stamps)))
    print(
        f"default (domain: {int(inside.sum())} of {n} scenes inside): named {report['objects_named_rate']:.3f}, mask count {report['attention']['mask_count']}"
    )
    report = named(make_namer(base, None, POOLED_THRESHOLDS, dict(design="pooled", decoder=None, domain=base.domain, stamps=base.stamps)))
    print(f"pooled design ({POOLED_THRESHOLDS}): named {report['objects_named_rate']:.3f}")
    false_people(world, n)


def false_people(world, n: int) -> None:
    """The detector's people on n validation and n test scenes, where there are none (the scenes
    leave the people stamps out): what Thresholds.domain_person must stay above."""
    from captioner.data.objects import split_scene

    detector = default_detector()
    if detector is None:
        return print("no detector installed: false people not measured")
    scores = []
    for split in ("val", "test"):
        for i in range(n):
            image = split_scene(world, split, i, seed=0).image.copy()
            image.thumbnail((DETECTOR_SIDE, DETECTOR_SIDE))
            scores.append(max((d.score for d in detector.detect(image, min_score=0.3) if d.label == "person"), default=0.0))
    floor = Thresholds().domain_person
    print(
        f"people on {len(scores)} scenes (none there): surest {max(scores):.3f}; scenes with one >= 0.5: "
        f"{sum(s >= 0.5 for s in scores)}, >= domain_person {floor}: {sum(s >= floor for s in scores) if floor else '-'}"
    )


COCO_FOR = {"mug": "cup", "teacup": "cup", "ball": "sports ball", "hen": "bird", "duck": "bird", "owl": "bird", "eagle": "bird"}


def attention_in_boxes(photos, base: Namer, detector) -> dict:
    """Attention correctness on real photos (Liu et al.): for each photo whose main object the
    detector finds (its COCO class, score >= 0.3; people photos: a person), the attention of the
    caption's first object word (the decoder's map, which naming keeps for the word it renames)
    inside the detector's surest box of that class, against the uniform baseline (box area / image
    area), and whether the map's peak lies in the box."""
    from captioner.evaluation.attention_metrics import attention_correctness

    labels = set(detector.detector.labels)
    items = []
    for row, result, _features, (image, _size) in photos:
        wanted = ["person"] if row.get("kind") == "people" else []
        for phrase in [row["main_object"]] + row["accepted"].split("|"):
            phrase = phrase.strip().lower()
            if phrase in labels or phrase in COCO_FOR:
                wanted.append(COCO_FOR.get(phrase, phrase))
        found = [d for d in detector.detect(image, min_score=0.3) if d.label in wanted]
        words = list(result.words)
        first = next((k for k, w in enumerate(words) if base.lexicon.is_object(w)), None)
        if row.get("kind") == "place" or not found or first is None:
            continue
        best = max(found, key=lambda d: d.score)
        measured = attention_correctness(np.asarray(result.attention)[first], best.box, image.size)
        items.append({"file": row["file"], "word": words[first], "label": best.label, "score": round(best.score, 3), **measured})
    summary = {
        "photos": len(items),
        "mass_in_box": float(np.mean([i["mass_in_box"] for i in items])) if items else None,
        "baseline": float(np.mean([i["baseline"] for i in items])) if items else None,
        "peak_in_box_rate": float(np.mean([i["peak_in_box"] for i in items])) if items else None,
    }
    for item in items:
        item["peak_xy"] = [int(v) for v in item["peak_xy"]]
    return {"summary": summary, "photos": items}


def write_table(report: dict, path: Path) -> None:
    """Photo by photo: the old default's caption and the new one, and whether each names what the photo is of."""
    mark = lambda hit: "yes" if hit else "-"  # noqa: E731
    lines = [
        "# Naming on real photographs, photo by photo",
        "",
        "Made by `python scripts/measure_naming.py` (beam 3) on data/photos; see docs/naming.md. "
        "*named*: the main object by a name (object photos), a person (people photos), the place (place photos).",
        "",
        "| photo | kind | what it shows | decoder only (old default) | named | with naming (new default) | named | where the name came from |",
        "|---|---|---|---|---|---|---|---|",
    ]
    old = "decoder only (old default)"
    for p in report["photos"]:
        new = p[DEFAULT_DESIGN]
        sources = "; ".join(
            f"{o['word']}: {o['source']}" + (f" {o['label']} {o['probability']:.2f}" if o["probability"] is not None else "")
            for o in new["objects"]
        )
        lines.append(
            f"| {p['file']} | {p['kind']} | {p['main_object']} | {p[old]['caption']} | {mark(p[old]['by_name'])} "
            f"| {new['caption']} | {mark(new['by_name'])} | {sources} |"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
