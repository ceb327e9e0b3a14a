"""Evaluation: caption quality (the coco-caption metrics) and attention correctness.

Caption quality is scored only by pycocoevalcap's own code: captions go through its PTBTokenizer
(Stanford CoreNLP, Java), then its Bleu(4), Meteor (Java), Rouge (ROUGE-L) and Cider scorers.
coco-caption's Cider class is CIDEr-D (clipped n-gram counts, Gaussian length penalty, x10).
Values are fractions as pycocoevalcap returns them (papers print BLEU and METEOR x100).
CIDEr's IDF comes from the references being scored, so CIDEr-D values compare only on the same
reference set; with a single image every n-gram has IDF 0 and CIDEr-D is 0.

Attention correctness follows Liu et al. (AAAI 2017): a word's attention map is upsampled to the
image size and renormalised, and the mass inside the referent's ground-truth box is compared with
the uniform baseline (box area / image area). We also report whether the map's peak is in the box.
"""

from __future__ import annotations

import json
import numbers
import shutil
import threading
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

JAVA_HINT = "install a Java runtime, e.g. `apt-get install -y default-jre-headless`"
DEFAULT_METEOR_TIMEOUT = 1800.0  # seconds; METEOR on a full COCO split takes minutes, not hours


class MetricsError(RuntimeError):
    """Captions could not be scored (bad input, or a Java tool missing or failing)."""


# ---------------------------------------------------------------------------------------------
# caption quality


def caption_metrics(predictions: Mapping, references: Mapping, meteor: bool = True,
                    meteor_timeout: float = DEFAULT_METEOR_TIMEOUT) -> dict[str, float]:
    """BLEU-1..4, METEOR, ROUGE-L and CIDEr-D of predicted captions against references.

    predictions: {image_id: caption text}; references: {image_id: [reference text, ...]}, with the
    same ids. Text is raw (PTB tokenisation and lower-casing happen here). meteor=False skips METEOR,
    which needs a Java process that loads a large paraphrase table (several seconds).
    Returns {"BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", ["METEOR",] "ROUGE-L", "CIDEr-D"} as floats.
    """
    _check_caption_inputs(predictions, references)
    if shutil.which("java") is None:
        raise MetricsError(f"the coco-caption metrics need `java` (PTB tokenizer, METEOR), which is not "
                           f"on PATH: {JAVA_HINT}")
    gts, res = _ptb_tokenize(predictions, references)

    scores: dict[str, float] = {}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    for n, value in enumerate(bleu, start=1):
        scores[f"BLEU-{n}"] = float(value)
    if meteor:
        scores["METEOR"] = _meteor(gts, res, meteor_timeout)
    scores["ROUGE-L"] = float(Rouge().compute_score(gts, res)[0])
    scores["CIDEr-D"] = float(Cider().compute_score(gts, res)[0])
    return scores


def _check_caption_inputs(predictions: Mapping, references: Mapping) -> None:
    if not isinstance(predictions, Mapping) or not isinstance(references, Mapping):
        raise MetricsError("predictions and references should be dicts keyed by image id")
    if not predictions:
        raise MetricsError("no predictions to score")
    missing_refs = [k for k in predictions if k not in references]
    missing_preds = [k for k in references if k not in predictions]
    # scoring a subset silently would change the numbers (CIDEr's IDF included): refuse instead
    if missing_refs or missing_preds:
        parts = []
        if missing_refs:
            parts.append(f"{len(missing_refs)} predicted images have no references (e.g. {missing_refs[:3]})")
        if missing_preds:
            parts.append(f"{len(missing_preds)} referenced images have no prediction (e.g. {missing_preds[:3]})")
        raise MetricsError("predictions and references should cover the same image ids: " + "; ".join(parts))
    for key, text in predictions.items():
        if not isinstance(text, str):
            raise MetricsError(f"prediction for image {key!r} should be a string, got {type(text).__name__}")
    for key, refs in references.items():
        if isinstance(refs, str) or not isinstance(refs, Sequence) or not refs \
                or not all(isinstance(r, str) for r in refs):
            raise MetricsError(f"references for image {key!r} should be a non-empty list of strings")


def _one_line(text: str) -> str:
    # The PTB tokenizer runs with -preserveLines, one caption a line; any line break inside a
    # caption (incl. \r, \u2028) would shift every later caption onto the wrong image.
    return " ".join(text.splitlines())


def _ptb_tokenize(predictions: Mapping, references: Mapping) -> tuple[dict, dict]:
    """pycocoevalcap's PTB tokenisation of both sides, in one Java run instead of two.

    It is line by line, so this gives what tokenising references and predictions separately
    (as pycocoevalcap's eval.py does) gives.
    """
    batch = {("ref", k): [{"caption": _one_line(r)} for r in refs] for k, refs in references.items()}
    batch.update({("pred", k): [{"caption": _one_line(text)}] for k, text in predictions.items()})
    try:
        tokenized = PTBTokenizer().tokenize(batch)
    except OSError as e:  # e.g. it writes its temporary file next to its jar, in site-packages
        raise MetricsError(f"pycocoevalcap's PTB tokenizer failed: {e}") from e
    if any(len(tokenized.get(key, ())) != len(value) for key, value in batch.items()):
        raise MetricsError("pycocoevalcap's PTB tokenizer (java) returned fewer lines than captions; "
                           "check that `java -version` works")
    gts = {k: tokenized[("ref", k)] for k in predictions}
    res = {k: tokenized[("pred", k)] for k in predictions}
    return gts, res


class _ClosableMeteor(Meteor):
    """pycocoevalcap's METEOR wrapper with a close() that always ends its Java process.

    The parent ends Java only in __del__, which first takes self.lock; but compute_score() leaves
    that lock held when it fails half-way (Java died: "could not convert string to float"), so the
    parent's __del__ would then block forever at garbage collection. close() takes no lock.
    """

    def close(self) -> str:
        """Kill the Java process if it still runs; return what it wrote to stderr."""
        proc = self.__dict__.pop("meteor_p", None)
        if proc is None:
            return ""
        proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:  # stdin may hold unflushed bytes for the dead process
                pass
        err = proc.stderr.read().decode("utf-8", errors="replace")
        proc.stderr.close()
        return err

    def __del__(self):
        self.close()


def _meteor(gts: dict, res: dict, timeout: float) -> float:
    """pycocoevalcap's METEOR, with its Java process closed on every path and a time limit.

    The wrapper talks to Java over pipes and blocks on readline(): if Java stops answering, it
    waits forever. A timer kills Java after `timeout` s, which turns the wait into an error.
    """
    try:
        scorer = _ClosableMeteor()
    except OSError as e:
        raise MetricsError(f"could not start METEOR (java -jar meteor-1.5.jar): {e}; {JAVA_HINT}") from e
    expired = threading.Event()
    proc = scorer.meteor_p

    def expire():
        expired.set()
        proc.kill()

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    try:
        score, _ = scorer.compute_score(gts, res)
        return float(score)
    except (ValueError, OSError) as e:  # Java gone: empty reply or a broken pipe
        err = scorer.close().strip()
        if expired.is_set():
            raise MetricsError(f"METEOR did not finish within {timeout:g} s and was stopped") from e
        raise MetricsError("METEOR's Java process failed" + (f": {err[-500:]}" if err else f" ({e})")) from e
    finally:
        timer.cancel()
        scorer.close()


def write_coco_results(predictions: Mapping, path) -> Path:
    """Write predictions in the COCO results format: [{"image_id": ..., "caption": ...}, ...]."""
    results = []
    for image_id, caption in predictions.items():
        if isinstance(image_id, numbers.Integral):
            image_id = int(image_id)  # numpy ints are not JSON serialisable
        elif not isinstance(image_id, str):
            raise MetricsError(f"image id {image_id!r} should be an int or a string")
        if not isinstance(caption, str):
            raise MetricsError(f"caption for image {image_id!r} should be a string, got {type(caption).__name__}")
        results.append({"image_id": image_id, "caption": caption})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# attention correctness


def _resize_matrix(n_in: int, n_out: int, mode: str) -> np.ndarray:
    """(n_out, n_in) matrix mapping a 1-D grid to pixels; rows sum to 1.

    Both modes treat grid cell c as covering pixels [c, c+1) * n_out / n_in (half-pixel centres):
    "bilinear" interpolates between cell centres and holds the edge value beyond the outer centres
    (as torch's interpolate(mode="bilinear", align_corners=False)); "nearest" gives each pixel the
    cell its centre lies in (torch's "nearest-exact").
    """
    out = np.arange(n_out, dtype=np.float64)
    matrix = np.zeros((n_out, n_in), dtype=np.float64)
    if mode == "nearest":
        cell = np.minimum(np.floor((out + 0.5) * n_in / n_out).astype(int), n_in - 1)
        matrix[np.arange(n_out), cell] = 1.0
        return matrix
    source = np.clip((out + 0.5) * n_in / n_out - 0.5, 0.0, n_in - 1)
    lo = np.floor(source).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = source - lo
    np.add.at(matrix, (np.arange(n_out), lo), 1.0 - frac)
    np.add.at(matrix, (np.arange(n_out), hi), frac)
    return matrix


def upsample_attention(attention: np.ndarray, image_size: tuple[int, int], mode: str = "bilinear") -> np.ndarray:
    """An (H, W) grid map resized to the image's (height, width) pixels and renormalised to sum 1."""
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"upsample mode should be 'bilinear' or 'nearest', got {mode!r}")
    att = np.asarray(attention, dtype=np.float64)
    if att.ndim != 2 or att.size == 0:
        raise ValueError(f"attention map should be a 2-D (H, W) array, got shape {att.shape}")
    if not np.all(np.isfinite(att)) or np.any(att < 0) or att.sum() <= 0:
        raise ValueError("attention map should be finite and non-negative with a positive sum")
    width, height = (int(v) for v in image_size)
    if width <= 0 or height <= 0:
        raise ValueError(f"image size should be positive (W, H), got {image_size}")
    # separable: rows then columns, exact and cheap compared with a 2-D resize of the full image
    up = _resize_matrix(att.shape[0], height, mode) @ att @ _resize_matrix(att.shape[1], width, mode).T
    return up / up.sum()


def _as_boxes(box) -> list[tuple[float, float, float, float]]:
    boxes = np.asarray(box, dtype=np.float64)
    if boxes.ndim == 1:
        boxes = boxes[None]
    if boxes.ndim != 2 or boxes.shape[1] != 4 or len(boxes) == 0:
        raise ValueError(f"box should be (x0, y0, x1, y1) or a list of such boxes, got {box!r}")
    return [tuple(b) for b in boxes]


def _coverage(lo: float, hi: float, n: int) -> np.ndarray:
    """Fraction of each pixel [i, i+1) of an axis of n pixels that lies inside [lo, hi)."""
    edges = np.arange(n, dtype=np.float64)
    return np.clip(np.minimum(hi, edges + 1) - np.maximum(lo, edges), 0.0, 1.0)


def attention_correctness(attention: np.ndarray, box, image_size: tuple[int, int], *,
                          upsample: str = "bilinear") -> dict:
    """How much of one word's attention lies on its referent (Liu et al., AAAI 2017).

    attention:  (H, W) grid map (normalised here, so any non-negative map with positive mass works).
    box:        (x0, y0, x1, y1) in image pixels, half-open (x0 <= x < x1), clipped to the image;
                or a list of boxes, whose union is the region (e.g. a plural word's objects).
    image_size: (W, H) in pixels, as PIL's Image.size.
    upsample:   "bilinear" (default: the smooth map people see as a heatmap) or "nearest".
    Returns {"mass_in_box": attention mass inside the region, after upsampling and renormalising;
             "baseline": region area / image area, what a uniform map scores;
             "peak_in_box": whether the upsampled map's maximum pixel has its centre in the region
                            (ties: the first maximum in row-major order);
             "peak_xy": that pixel's (x, y)}.
    Fractional box edges count the covered part of each edge pixel, so a uniform map scores the
    baseline exactly; where several boxes overlap, a pixel counts once (its largest coverage).
    """
    up = upsample_attention(attention, image_size, upsample)
    height, width = up.shape
    region = np.zeros_like(up)
    centre_in = np.zeros(up.shape, dtype=bool)
    centres_y = np.arange(height) + 0.5
    centres_x = np.arange(width) + 0.5
    for x0, y0, x1, y1 in _as_boxes(box):
        region = np.maximum(region, np.outer(_coverage(y0, y1, height), _coverage(x0, x1, width)))
        centre_in |= np.outer((centres_y >= y0) & (centres_y < y1), (centres_x >= x0) & (centres_x < x1))
    if region.sum() <= 0:
        raise ValueError(f"box {box!r} does not overlap the {width}x{height} image")
    peak_y, peak_x = np.unravel_index(int(np.argmax(up)), up.shape)
    return {
        "mass_in_box": float(np.sum(up * region)),
        "baseline": float(region.sum() / (width * height)),
        "peak_in_box": bool(centre_in[peak_y, peak_x]),
        "peak_xy": (int(peak_x), int(peak_y)),
    }


def attention_correctness_summary(items: Iterable[tuple], *, upsample: str = "bilinear") -> dict:
    """Means over many (attention map, box, image_size) triples, e.g. every grounded word of a test set.

    Returns {"count", "mass_in_box" (mean), "baseline" (mean), "peak_in_box_rate"}; the means are
    NaN when there is nothing to average.
    """
    results = [attention_correctness(att, box, size, upsample=upsample) for att, box, size in items]
    if not results:
        return {"count": 0, "mass_in_box": float("nan"), "baseline": float("nan"), "peak_in_box_rate": float("nan")}
    return {
        "count": len(results),
        "mass_in_box": float(np.mean([r["mass_in_box"] for r in results])),
        "baseline": float(np.mean([r["baseline"] for r in results])),
        "peak_in_box_rate": float(np.mean([r["peak_in_box"] for r in results])),
    }
