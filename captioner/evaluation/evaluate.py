"""Evaluation: `captioner evaluate`.

Captions every image of a split by real decoding, then scores them with the coco-caption metrics
(BLEU-1..4, METEOR, ROUGE-L, CIDEr-D through pycocoevalcap). On grounded data (the synthetic
scenes, whose objects have boxes) it also measures attention correctness (Liu et al. 2017) for the
generated words that name an object, and how often every object's colour and shape are named.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from captioner.data.datasets import references
from captioner.data.grounding import ground_caption, objects_named
from captioner.images import load_image
from captioner.evaluation.attention_metrics import attention_correctness_summary
from captioner.evaluation.caption_metrics import caption_metrics, write_coco_results


def caption_records(captioner, records: Sequence, beam_size: int = 3, batch_size: int = 32, progress: bool = False) -> tuple[list, list]:
    """Caption results and image sizes (W, H) for the records' images, in order."""
    results, sizes = [], []
    for start in tqdm(range(0, len(records), batch_size), disable=not progress, desc="captioning", unit="batch"):
        images = [load_image(r.image_path) for r in records[start : start + batch_size]]
        sizes.extend(im.size for im in images)
        results.extend(captioner.decode(captioner.encode(images), beam_size=beam_size))
    return results, sizes


def grounding_report(records: Sequence, results: Sequence, sizes: Sequence[tuple[int, int]]) -> dict:
    """Attention correctness of the object-naming words, and the objects-named rate."""
    items, by_kind = [], {"color": [], "shape": []}
    named = []
    for record, result, size in zip(records, results, sizes):
        named.append(objects_named(result.words, record.objects))
        for phrase in ground_caption(result.words, record.objects):
            boxes = [record.objects[i]["box"] for i in phrase.objects]
            for j in phrase.word_indices:
                item = (result.attention[j], boxes, size)
                items.append(item)
                kind = "shape" if j == phrase.word_indices[-1] else ("color" if result.words[j] == phrase.color else None)
                if kind:
                    by_kind[kind].append(item)
    return {
        "objects_named_rate": float(np.mean(named)) if named else float("nan"),
        "attention": attention_correctness_summary(items),
        "attention_by_word": {kind: attention_correctness_summary(v) for kind, v in by_kind.items()},
    }


def evaluate(
    captioner,
    records: Sequence,
    beam_size: int = 3,
    meteor: bool = True,
    batch_size: int = 32,
    progress: bool = False,
    results_file: str | Path | None = None,
) -> dict:
    """A JSON-ready report for the given records (one split of a data set)."""
    if not records:
        raise ValueError("nothing to evaluate: no images in this split")
    started = time.perf_counter()
    results, sizes = caption_records(captioner, records, beam_size=beam_size, batch_size=batch_size, progress=progress)
    predictions = {r.image_id: res.text for r, res in zip(records, results)}
    report = {
        "n_images": len(records),
        "beam_size": beam_size,
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
    path.write_text(json.dumps(report, indent=2))
    return path

