"""Caption quality: the coco-caption metrics (BLEU-1..4, METEOR, ROUGE-L, CIDEr-D).

Caption quality is scored only by pycocoevalcap's own code: captions go through its PTBTokenizer
(Stanford CoreNLP, Java), then its Bleu(4), Meteor (Java), Rouge (ROUGE-L) and Cider scorers.
coco-caption's Cider class is CIDEr-D (clipped n-gram counts, Gaussian length penalty, x10).
Values are fractions as pycocoevalcap returns them (papers print BLEU and METEOR x100).
CIDEr's IDF comes from the references being scored, so CIDEr-D values compare only on the same
reference set; with a single image every n-gram has IDF 0 and CIDEr-D is 0.
"""

from __future__ import annotations

import json
import numbers
import shutil
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

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


def caption_metrics(
    predictions: Mapping, references: Mapping, meteor: bool = True, meteor_timeout: float = DEFAULT_METEOR_TIMEOUT
) -> dict[str, float]:
    """BLEU-1..4, METEOR, ROUGE-L and CIDEr-D of predicted captions against references.

    predictions: {image_id: caption text}; references: {image_id: [reference text, ...]}, with the
    same ids. Text is raw (PTB tokenisation and lower-casing happen here). meteor=False skips METEOR,
    which needs a Java process that loads a large paraphrase table (several seconds).
    Returns {"BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", ["METEOR",] "ROUGE-L", "CIDEr-D"} as floats.
    """
    _check_caption_inputs(predictions, references)
    if shutil.which("java") is None:
        raise MetricsError(f"the coco-caption metrics need `java` (PTB tokenizer, METEOR), which is not on PATH: {JAVA_HINT}")
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
        if isinstance(refs, str) or not isinstance(refs, Sequence) or not refs or not all(isinstance(r, str) for r in refs):
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
        raise MetricsError("pycocoevalcap's PTB tokenizer (java) returned fewer lines than captions; check that `java -version` works")
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
