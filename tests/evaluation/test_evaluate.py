import json

import numpy as np
import pytest
import torch

from captioner import Captioner, ModelConfig
from captioner.data.datasets import load_dataset
from captioner.evaluation.evaluate import evaluate, grounding_report
from captioner.pipeline import CaptionResult


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from captioner.data.synth import generate_dataset
    from captioner.vocab import Vocabulary

    path = generate_dataset(tmp_path_factory.mktemp("synth"), n_train=4, n_val=0, n_test=5, n_comp=3, seed=1, image_size=64)
    records = load_dataset(path)
    vocab = Vocabulary.build((c for r in records for c in r.captions), min_freq=1)
    torch.manual_seed(0)
    cap = Captioner.from_config(ModelConfig(image_size=64, embed_dim=16, hidden_dim=16, attention_dim=16, max_len=6), vocab)
    return path, records, cap


def test_report_has_metrics_grounding_and_results_file(tiny, tmp_path):
    _, records, cap = tiny
    test = [r for r in records if r.split == "test"]
    report = evaluate(cap, test, beam_size=2, meteor=False, results_file=tmp_path / "res.json")
    assert report["n_images"] == 5
    assert set(report["metrics"]) == {"BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L", "CIDEr-D"}
    assert set(report["grounding"]) == {"objects_named_rate", "attention", "attention_by_word"}
    results = json.loads((tmp_path / "res.json").read_text())
    assert sorted(r["image_id"] for r in results) == sorted(r.image_id for r in test)


def _result(words, maps):
    att = np.asarray(maps, dtype=np.float32)
    return CaptionResult(text=" ".join(words), words=words, attention=att, score=-1.0, betas=np.ones(len(words), np.float32))


def test_objects_named_rate_of_constructed_captions(tiny, monkeypatch):
    """evaluate's objects-named rate for captions chosen per image: 2 of the 5 name every object."""
    from captioner.evaluation import evaluate as evaluation

    _, records, cap = tiny
    test = [r for r in records if r.split == "test"]
    assert all(r.objects for r in test)

    def naming(objects, colors):
        words = ["a"]
        for obj, color in zip(objects, colors):
            words += [color, obj["shape"], "and"]
        return words[:-1]

    def other(color):
        return "blue" if color != "blue" else "red"

    captions = [
        naming(test[0].objects, [o["color"] for o in test[0].objects]),  # every object named
        naming(test[1].objects, [o["color"] for o in test[1].objects]),  # every object named
        naming(test[2].objects[:-1], [o["color"] for o in test[2].objects])
        + ["and", "a", test[2].objects[-1]["shape"]],  # last one's colour missing
        naming(test[3].objects, [other(o["color"]) for o in test[3].objects]),  # wrong colours
        ["a"] + [o["shape"] for o in test[4].objects],  # shapes only
    ]

    def constructed(captioner, records, options=None, batch_size=32, progress=False, **decoding):
        results = [_result(words, np.full((len(words), 2, 2), 0.25)) for words in captions]
        return results, [(64, 64)] * len(records)

    monkeypatch.setattr(evaluation, "caption_records", constructed)
    report = evaluation.evaluate(cap, test, meteor=False)
    assert report["grounding"]["objects_named_rate"] == pytest.approx(2 / 5)
    assert report["examples"][0]["caption"] == " ".join(captions[0])


def test_grounding_report_scores_the_naming_words():
    from captioner.data.datasets import CaptionRecord

    objects = [{"shape": "circle", "color": "red", "size": "small", "box": [0, 0, 32, 32]}]
    record = CaptionRecord(image_path="x.png", captions=[["a", "red", "circle"]], split="test", image_id=0, objects=objects)
    inside = np.zeros((2, 2))
    inside[0, 0] = 1.0  # all mass on the top-left cell = the box
    outside = np.zeros((2, 2))
    outside[1, 1] = 1.0
    good = grounding_report([record], [_result(["a", "red", "circle"], [outside, inside, inside])], [(64, 64)])
    bad = grounding_report([record], [_result(["a", "red", "circle"], [inside, outside, outside])], [(64, 64)])
    assert good["objects_named_rate"] == 1.0
    assert good["attention"]["count"] == 2  # "red" and "circle"; "a" names nothing
    assert good["attention"]["peak_in_box_rate"] == 1.0 and bad["attention"]["peak_in_box_rate"] == 0.0
    assert good["attention"]["mass_in_box"] > 0.5 > bad["attention"]["mass_in_box"]
    assert good["attention"]["baseline"] == pytest.approx(0.25)


def test_evaluate_and_export_commands(tiny, tmp_path, capsys):
    from captioner.cli.main import main

    path, _, cap = tiny
    cap.save_pretrained(tmp_path / "model")
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(tmp_path / "model"),
                "--data",
                str(path),
                "--split",
                "comp",
                "--no-meteor",
                "--out",
                str(tmp_path / "r.json"),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["split"] == "comp" and report["n_images"] == 3
    capsys.readouterr()
    assert (
        main(
            ["export", "--model", str(tmp_path / "model"), "--out", str(tmp_path / "pub"), "--check-data", str(path), "--check-limit", "3"]
        )
        == 0
    )
    exported = json.loads(capsys.readouterr().out)  # which dtype is chosen when: tests/test_publish.py
    assert exported["checked_images"] == 3
    from safetensors import safe_open

    with safe_open(str(tmp_path / "pub" / "model.safetensors"), "pt") as f:
        assert {str(f.get_tensor(k).dtype) for k in f.keys()} == {"torch." + exported["dtype"]}
    a = Captioner.from_pretrained(tmp_path / "model", device="cpu").caption([r.image_path for r in load_dataset(path)][:3])
    b = Captioner.from_pretrained(tmp_path / "pub", device="cpu").caption([r.image_path for r in load_dataset(path)][:3])
    assert [r.text for r in a] == [r.text for r in b]
    from captioner.evaluation.report import results_table

    table = results_table([report])
    assert table.splitlines()[2].startswith("| model | comp | 3 |")  # the model folder's name
    assert "mask" not in table.splitlines()[0]  # shapes scenes have no masks


def test_photo_evaluation_says_which_captions_name_the_main_object(tiny, tmp_path, photos, capsys):
    import csv

    from captioner.cli.main import main
    from captioner.evaluation.photos import names_object

    _, _, cap = tiny
    cap.save_pretrained(tmp_path / "model")
    folder = tmp_path / "photos"
    folder.mkdir()
    photos["chelsea"].save(folder / "cat.jpg")
    photos["coffee"].save(folder / "coffee.jpg")
    with (folder / "photos.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerows(
            [
                ["file", "main_object", "known", "accepted"],
                ["cat.jpg", "cat", "no", "cat|animal"],
                ["coffee.jpg", "mug", "yes", "mug|cup|tea cup"],
            ]
        )
    out = tmp_path / "photos.json"
    assert main(["evaluate", "--model", str(tmp_path / "model"), "--photos", str(folder), "--beam-size", "1", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [p["file"] for p in report["photos"]] == ["cat.jpg", "coffee.jpg"] and report["beam_size"] == 1
    assert report["named_rate"] == sum(p["named"] for p in report["photos"]) / 2
    assert "| cat.jpg | cat | no |" in capsys.readouterr().out
    # whole words and phrases only
    assert names_object("a red tea cup".split(), "mug|tea cup") == "tea cup"
    assert names_object("a cupboard".split(), "cup") is None and names_object("a cat".split(), "dog|animal") is None
    # a bad photo set is a usage error
    assert main(["evaluate", "--model", str(tmp_path / "model"), "--photos", str(tmp_path / "nowhere")]) == 2


def test_a_report_names_its_model_by_folder_or_by_training_run():
    from captioner.evaluation.report import model_label

    assert model_label({"model": "captioner/pretrained/hard"}) == "hard"
    assert model_label({"model": "runs/hard-gumbel/best"}) == "hard-gumbel"  # a run's best or final model
    assert model_label({"model": "runs/hard-gumbel/final"}) == "hard-gumbel"
    assert model_label({"hard_attention": True}) == "hard" and model_label({}) == "soft"


def test_a_report_names_how_a_hard_model_read_the_grid():
    from captioner.evaluation.report import decoding_label

    hard = {"hard_attention": True, "beam_size": 3}
    assert decoding_label({**hard, "decoding": {"hard_context": "expected"}}) == "3 (expected context)"
    assert (
        decoding_label({**hard, "decoding": {"hard_context": "argmax", "block_trigrams": True}})
        == "3 (no trigram repeats, argmax location)"
    )
    assert decoding_label({**hard, "decoding": {}}) == "3 (argmax location)"  # written before the option: argmax
    assert decoding_label({"beam_size": 1, "decoding": {"hard_context": "expected"}}) == "1"  # a soft model


def test_the_report_table_skips_files_that_are_not_reports(tmp_path, capsys):
    from captioner.evaluation.report import main

    report = {"model": "runs/a/best", "split": "test", "beam_size": 3, "metrics": {"CIDEr-D": 1.5}}
    (tmp_path / "a.json").write_text(json.dumps(report))
    (tmp_path / "a-coco-results.json").write_text(json.dumps([{"image_id": 1, "caption": "x"}]))
    assert main([str(tmp_path / "a-coco-results.json"), str(tmp_path / "a.json")]) == 0
    out, err = capsys.readouterr()
    assert "| a | test | 3 |" in out and "1.500" in out
    assert "skipped" in err and "a-coco-results.json" in err


def test_a_report_with_a_nan_metric_is_valid_json(tmp_path):
    from captioner.evaluation.evaluate import write_report

    def refuse(constant):
        raise ValueError(f"bare {constant} in the report")

    path = write_report(
        {"metrics": {"CIDEr-D": float("nan"), "BLEU-4": 0.25}, "grounding": {"attention": float("inf")}}, tmp_path / "r.json"
    )
    assert json.loads(path.read_text(), parse_constant=refuse) == {
        "metrics": {"CIDEr-D": None, "BLEU-4": 0.25},
        "grounding": {"attention": None},
    }
