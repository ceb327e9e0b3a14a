"""Exit statuses of train, evaluate and export as the README documents them (issue 25, items 7, 8):
2 for bad input (a missing model, bad data, an --out that cannot be written), 1 for a run that failed
on the machine's account (a full disk), never 3 "this is a bug" with a traceback."""

import errno
import json

import pytest
import torch
from PIL import Image

from captioner import Captioner, ModelConfig
from captioner.cli.main import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from captioner.data.synth import generate_dataset

    return generate_dataset(tmp_path_factory.mktemp("synth"), n_train=4, n_val=2, n_test=2, n_comp=0, seed=1, image_size=64)


@pytest.fixture(scope="module")
def model(tmp_path_factory, vocab):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "m"
    Captioner.from_config(ModelConfig(image_size=64, embed_dim=8, hidden_dim=8, attention_dim=8, max_len=4), vocab).save_pretrained(path)
    return path


def _run(argv, capsys):
    status = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err
    return status, err


def _coco(tmp_path, captions, name="captions_train2014.json"):
    Image.new("RGB", (64, 64)).save(tmp_path / "a.jpg")
    path = tmp_path / name
    path.write_text(
        json.dumps(
            {
                "images": [{"id": 7, "file_name": "a.jpg"}],
                "annotations": [{"id": i, "image_id": 7, "caption": c} for i, c in enumerate(captions)],
            }
        )
    )
    return path


def test_missing_model_is_status_2(tmp_path, data, capsys):
    assert _run(["export", "--model", tmp_path / "nowhere", "--out", tmp_path / "pub"], capsys) == (
        2,
        f"captioner export: error: {tmp_path / 'nowhere'}: no such model directory\n",
    )
    status, err = _run(["evaluate", "--model", tmp_path / "nowhere", "--data", data, "--no-meteor", "--out", tmp_path / "r.json"], capsys)
    assert status == 2 and "no such model directory" in err


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        (
            json.dumps({"images": [{"filename": "a.jpg", "split": "test", "sentences": [], "cocoid": [1]}]}),
            "should be a whole number or a text",
        ),
    ],
)
def test_malformed_data_is_status_2_naming_the_file(tmp_path, model, capsys, content, message):
    bad = tmp_path / "dataset_bad.json"
    bad.write_text(content)
    for command in (
        ["evaluate", "--model", model, "--data", bad, "--no-meteor"],
        ["train", "--data", bad, "--out", tmp_path / "run"],
        ["export", "--model", model, "--out", tmp_path / "pub", "--check-data", bad],
    ):
        status, err = _run(command, capsys)
        assert status == 2 and str(bad) in err and message in err


def test_an_out_that_cannot_be_written_is_status_2_before_the_work(tmp_path, model, data, capsys, monkeypatch):
    from captioner import pipeline

    monkeypatch.setattr(pipeline.Captioner, "from_pretrained", lambda *a, **k: pytest.fail("loaded the model first"))
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    for command in (
        ["evaluate", "--model", model, "--data", data, "--no-meteor", "--out", blocked / "r.json"],
        ["export", "--model", model, "--out", blocked / "pub"],
    ):
        status, err = _run(command, capsys)
        assert status == 2 and "a-file" in err


def test_a_full_disk_is_status_1(tmp_path, model, data, capsys, monkeypatch):
    from captioner.evaluation import evaluate

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(evaluate, "write_report", full)
    status, err = _run(
        ["evaluate", "--model", model, "--data", data, "--split", "test", "--no-meteor", "--out", tmp_path / "r.json", "--device", "cpu"],
        capsys,
    )
    assert status == 1 and "No space left on device" in err


@pytest.mark.parametrize(
    "captions, message",
    [
        (["", "   "], "image 7 (train, record 1): caption 1 has no words"),
        ([], "no images in the train split"),  # an image without captions is left out: nothing to train on
    ],
)
def test_training_data_without_words_is_refused_before_the_first_step(tmp_path, capsys, captions, message):
    coco = _coco(tmp_path, captions)
    status, err = _run(["train", "--data", coco, "--out", tmp_path / "run", "--epochs", "1", "--device", "cpu"], capsys)
    assert status == 2 and str(coco) in err and message in err
    assert not (tmp_path / "run" / "cache").exists()  # refused before any feature was computed


def test_checking_the_report_path_makes_no_folder(tmp_path, data, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, err = _run(["evaluate", "--model", "nowhere", "--data", data, "--no-meteor"], capsys)
    assert status == 2 and "nowhere: no such model directory" in err
    assert not (tmp_path / "nowhere").exists()
