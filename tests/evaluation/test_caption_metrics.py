"""Caption metrics against pycocoevalcap itself."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from captioner.evaluation.caption_metrics import MetricsError, caption_metrics, write_coco_results

REFERENCES = {
    1: ["A dog runs on the grass.", "a brown dog running across a lawn", "The dog is playing outside"],
    2: ["Two cats sleep on a red sofa.", "cats sleeping on a couch", "two kittens resting together"],
    3: ["A man rides a bike down the street.", "a person riding a bicycle", "a cyclist on a city road"],
}
GOOD = {1: "a dog runs on the grass", 2: "TWO CATS SLEEP ON A RED SOFA", 3: "A man rides a bike down the street!"}
WRONG = {1: "a plate of food on a table", 2: "a man rides a bike", 3: "two cats on a sofa"}
KEYS = ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D"]


def meteor_children() -> list[int]:
    """Ids of this process's child processes running the METEOR jar (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and b"meteor" in cmdline:
            found.append(int(stat.parent.name))
    return found


def pycocoevalcap_directly(predictions, references) -> dict:
    """The reference computation, as pycocoevalcap's eval.py does it (tokenise each side separately)."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    meteor = Meteor()  # starts loading in Java now, alongside the caller's own METEOR run
    try:
        tokenizer = PTBTokenizer()
        gts = tokenizer.tokenize({k: [{"caption": r} for r in refs] for k, refs in references.items()})
        res = tokenizer.tokenize({k: [{"caption": predictions[k]}] for k in references})
        bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
        out = {f"BLEU-{n}": b for n, b in enumerate(bleu, start=1)}
        out["METEOR"] = meteor.compute_score(gts, res)[0]
        out["ROUGE-L"] = Rouge().compute_score(gts, res)[0]
        out["CIDEr-D"] = Cider().compute_score(gts, res)[0]
        return out
    finally:
        meteor.meteor_p.kill()
        meteor.meteor_p.wait()


@pytest.fixture(scope="module")
def scored():
    """caption_metrics with METEOR on GOOD, and pycocoevalcap's own numbers (the two JVMs overlap)."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        direct = pool.submit(pycocoevalcap_directly, GOOD, REFERENCES)
        ours = caption_metrics(GOOD, REFERENCES)
        return ours, direct.result()


def test_caption_metrics_keys_and_perfect_prediction(scored):
    ours, _ = scored
    assert list(ours) == KEYS
    assert all(isinstance(v, float) for v in ours.values())
    assert ours["BLEU-1"] == pytest.approx(1.0, abs=1e-6)
    assert ours["BLEU-4"] == pytest.approx(1.0, abs=1e-6)
    assert ours["ROUGE-L"] == pytest.approx(1.0)
    assert 0.9 < ours["METEOR"] <= 1.0
    assert ours["CIDEr-D"] > 2.0  # one of three distinct references matched exactly (max 10)


def test_caption_metrics_match_pycocoevalcap_called_directly(scored):
    ours, direct = scored
    assert list(direct) == KEYS
    for key in KEYS:
        assert ours[key] == pytest.approx(direct[key], rel=1e-12, abs=1e-12), key
    assert meteor_children() == []  # our METEOR's Java process was ended


def test_caption_metrics_all_references_equal_gives_maximum():
    same = {k: [GOOD[k]] * 3 for k in GOOD}
    scores = caption_metrics(GOOD, same, meteor=False)
    assert "METEOR" not in scores
    assert scores["BLEU-4"] == pytest.approx(1.0, abs=1e-6)
    assert scores["CIDEr-D"] == pytest.approx(10.0)  # CIDEr-D's maximum: cosine 1, no length penalty


def test_wrong_predictions_score_lower(scored):
    good, _ = scored
    wrong = caption_metrics(WRONG, REFERENCES, meteor=False)
    assert list(wrong) == [k for k in KEYS if k != "METEOR"]
    for key in wrong:
        assert wrong[key] < good[key] - 0.1 * abs(good[key]), key
    assert wrong["BLEU-4"] < 0.2 and wrong["CIDEr-D"] < 0.5 * good["CIDEr-D"]
    # METEOR off changes nothing else
    again = caption_metrics(GOOD, REFERENCES, meteor=False)
    assert again == {k: v for k, v in good.items() if k != "METEOR"}


def test_line_breaks_inside_captions_do_not_shift_images():
    broken = {1: "a dog runs\non the grass", 2: GOOD[2], 3: "A man rides a bike\r\ndown the street!"}
    assert caption_metrics(broken, REFERENCES, meteor=False) == caption_metrics(GOOD, REFERENCES, meteor=False)


def test_empty_prediction_scores_zero_for_its_image_without_crashing():
    partial = {**GOOD, 2: ""}
    scores = caption_metrics(partial, REFERENCES, meteor=False)
    full = caption_metrics(GOOD, REFERENCES, meteor=False)
    assert 0.0 < scores["CIDEr-D"] < full["CIDEr-D"] and scores["ROUGE-L"] == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    "predictions, references, message",
    [
        ({1: "a dog"}, {1: ["a dog"], 2: ["a cat"]}, r"1 referenced images have no prediction \(e.g. \[2\]\)"),
        ({1: "a dog", 3: "x"}, {1: ["a dog"]}, r"1 predicted images have no references \(e.g. \[3\]\)"),
        ({1: "a dog"}, {1: "a dog"}, "references for image 1 should be a non-empty list of strings"),
        ({1: "a dog"}, {1: []}, "non-empty list"),
        ({1: ["a dog"]}, {1: ["a dog"]}, "prediction for image 1 should be a string"),
        ({}, {}, "no predictions"),
    ],
)
def test_caption_metrics_rejects_bad_input(predictions, references, message):
    with pytest.raises(MetricsError, match=message):
        caption_metrics(predictions, references, meteor=False)


def test_missing_java_is_named_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without java
    with pytest.raises(MetricsError) as info:
        caption_metrics(GOOD, REFERENCES)
    assert "`java`" in str(info.value) and "apt-get install -y default-jre-headless" in str(info.value)


def test_meteor_time_limit_stops_java_and_raises():
    with pytest.raises(MetricsError, match="METEOR did not finish within 0.2 s"):
        caption_metrics(GOOD, REFERENCES, meteor_timeout=0.2)  # far less than its start-up time
    assert meteor_children() == []


def test_write_coco_results_round_trip_and_pycocotools(tmp_path):
    from pycocotools.coco import COCO

    path = write_coco_results({np.int64(7): "a dog", 9: "two cats"}, tmp_path / "out" / "results.json")
    assert json.loads(path.read_text()) == [{"image_id": 7, "caption": "a dog"}, {"image_id": 9, "caption": "two cats"}]
    gt = COCO()
    gt.dataset = {
        "images": [{"id": 7}, {"id": 9}],
        "annotations": [{"id": 1, "image_id": 7, "caption": "a dog"}, {"id": 2, "image_id": 9, "caption": "cats"}],
    }
    gt.createIndex()
    res = gt.loadRes(str(path))
    assert sorted(a["caption"] for a in res.dataset["annotations"]) == ["a dog", "two cats"]
    assert write_coco_results({"a.png": "a dog"}, tmp_path / "s.json").read_text().startswith('[{"image_id": "a.png"')
    with pytest.raises(MetricsError, match="should be an int or a string"):
        write_coco_results({(1, 2): "a dog"}, tmp_path / "bad.json")
