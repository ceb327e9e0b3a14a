"""Evaluation: `captioner evaluate`.

Captions every image of a split by real decoding, then scores them with the coco-caption metrics
(BLEU-1..4, METEOR, ROUGE-L, CIDEr-D through pycocoevalcap). On grounded data (generated
scenes, whose objects have boxes and, for photographed objects, masks) it also measures attention
correctness (Liu et al. 2017) for the generated words that name an object, and how often every
object is named.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from captioner.data.datasets import references
from captioner.data.grounding import grounding_for
from captioner.decoding.options import DecodingOptions, decoding_options
from captioner.evaluation.attention_metrics import attention_correctness_summary
from captioner.evaluation.caption_metrics import caption_metrics, write_coco_results
from captioner.files import finite_json


def caption_records(
    captioner, records: Sequence, options: DecodingOptions | None = None, batch_size: int = 32, progress: bool = False, **decoding
) -> tuple[list, list]:
    """Caption results and image sizes (W, H) for the records' images, in order."""
    results, sizes = [], []
    stream = captioner.stream([r.image_path for r in records], decoding_options(options, **decoding), batch_size=batch_size)
    for item in tqdm(stream, total=len(records), disable=not progress, desc="captioning", unit="img"):
        if item.error is not None:
            raise item.error
        results.append(item.result)
        sizes.append(item.size)
    return results, sizes


def grounding_report(records: Sequence, results: Sequence, sizes: Sequence[tuple[int, int]]) -> dict:
    """Attention correctness of the object-naming words, and the objects-named rate. Each record's
    words are grounded by its data set's functions (captioner.data.grounding.grounding_for); the
    mask figures come with objects that have masks."""
    # by kind: a phrase's head noun ("shape": the shape word, or an object name's last word) and colour
    # word; and for any phrase its first word (where the model commits to an object) and its later
    # words (e.g. "truck" in "garbage truck", whose attention the name's first word already settled)
    items, by_kind = [], {"color": [], "shape": [], "first": [], "later": []}
    named = []
    for record, result, size in zip(records, results, sizes):
        grounding = grounding_for(record.dataset)
        named.append(grounding.objects_named(result.words, record.objects))
        for phrase in grounding.ground_caption(result.words, record.objects):
            referents = [record.objects[i] for i in phrase.objects]
            masks = [obj["mask"] for obj in referents if "mask" in obj]
            mask = masks if masks and len(masks) == len(referents) else None
            for j in phrase.word_indices:
                item = (result.attention[j], [obj["box"] for obj in referents], size, mask)
                items.append(item)
                kind = "shape" if j == phrase.word_indices[-1] else ("color" if result.words[j] == phrase.color else None)
                if kind:
                    by_kind[kind].append(item)
                by_kind["first" if j == phrase.word_indices[0] else "later"].append(item)
    return {
        "objects_named_rate": float(np.mean(named)) if named else float("nan"),
        "attention": attention_correctness_summary(items),
        "attention_by_word": {kind: attention_correctness_summary(v) for kind, v in by_kind.items()},
    }


def evaluate(
    captioner,
    records: Sequence,
    options: DecodingOptions | None = None,
    meteor: bool = True,
    batch_size: int = 32,
    progress: bool = False,
    results_file: str | Path | None = None,
    **decoding,
) -> dict:
    """A JSON-ready report for the given records (one split of a data set), decoded as `options`
    (with keyword overrides, e.g. beam_size=1) say."""
    if not records:
        raise ValueError("nothing to evaluate: no images in this split")
    options = decoding_options(options, **decoding)
    started = time.perf_counter()
    results, sizes = caption_records(captioner, records, options, batch_size=batch_size, progress=progress)
    predictions = {r.image_id: res.text for r, res in zip(records, results)}
    report = {
        "n_images": len(records),
        "beam_size": options.beam_size,
        "decoding": dataclasses.asdict(options),
        "attention": captioner.config.attention,
        "hard_attention": captioner.config.hard_attention,
        "metrics": caption_metrics(predictions, references(records), meteor=meteor),
        "mean_length": float(np.mean([len(r.words) for r in results])),
        "unfinished": int(sum(not r.finished for r in results)),
    }
    if all(r.objects for r in records):
        report["grounding"] = grounding_report(records, results, sizes)
    if results_file is not None:
        write_coco_results(predictions, results_file)
        report["results_file"] = str(results_file)
    report["seconds"] = round(time.perf_counter() - started, 2)
    report["examples"] = [{"image": str(r.image_path), "caption": res.text} for r, res in list(zip(records, results))[:5]]
    return report


def write_report(report: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(finite_json(report, indent=2))
    return path
