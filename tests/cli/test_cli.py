"""`captioner caption` and `captioner inspect`: wiring, exit statuses, messages, and the torchrun path."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from captioner import Captioner, ModelConfig
from captioner.cli.main import _style, build_parser, main
from captioner.modeldir import directory
from captioner.viz.render import HeatmapStyle

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, vocab):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model")
    Captioner.from_config(ModelConfig(embed_dim=16, hidden_dim=16, attention_dim=16, max_len=6), vocab).save_pretrained(path)
    return str(path)


@pytest.fixture
def folder(tmp_path, photos):
    """Three small photos, one in a sub-folder."""
    for rel, name in [("a.jpg", "chelsea"), ("b.png", "coffee"), ("sub/c.jpg", "rocket")]:
        (tmp_path / "in" / rel).parent.mkdir(parents=True, exist_ok=True)
        photos[name].resize((80, 60)).save(tmp_path / "in" / rel)
    return tmp_path / "in"


def _records(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_caption_folder_exit_0_and_summary(folder, model_dir, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    assert main(["caption", str(folder), "--out", str(out), "--model", model_dir, "--no-progress"]) == 0
    records = _records(out)
    assert [r["path"] for r in records] == [str(folder / p) for p in ("a.jpg", "b.png", "sub/c.jpg")]
    assert all(r["error"] is None and r["caption"] for r in records)
    assert capsys.readouterr().out.strip() == f"captioned 3, failed 0 -> {out}"


def test_caption_with_onnx_decoding_writes_the_same_captions(folder, model_dir, tmp_path):
    plain, onnx = tmp_path / "plain.jsonl", tmp_path / "onnx.jsonl"
    assert main(["caption", str(folder), "--out", str(plain), "--model", model_dir, "--no-progress"]) == 0
    assert main(["caption", str(folder), "--out", str(onnx), "--model", model_dir, "--no-progress", "--onnx"]) == 0
    assert [r["caption"] for r in _records(onnx)] == [r["caption"] for r in _records(plain)]
    assert main(["caption", str(folder), "--out", str(onnx), "--model", model_dir, "--onnx", "--int8", "--overwrite"]) == 0
    assert all(r["caption"] for r in _records(onnx))  # int8 on ONNX Runtime: captions (a few may differ)


def test_caption_list_file_and_glob_to_csv_with_a_failure(folder, model_dir, tmp_path, capsys):
    (folder / "broken.jpg").write_text("not an image")
    listing = tmp_path / "list.txt"
    listing.write_text(f"{folder / 'broken.jpg'}\n{folder / 'a.jpg'}\n")
    out = tmp_path / "r.csv"
    argv = ["caption", str(folder / "sub" / "*.jpg"), "--list", str(listing), "--out", str(out), "--model", model_dir]
    assert main(argv + ["--beam-size", "2", "--n-best", "2", "--peaks", "--batch-size", "2"]) == 1
    lines = out.read_text().splitlines()
    assert lines[0] == "path,caption,score,error,alternatives,peaks"
    assert [line.split(",")[0] for line in lines[1:]] == [str(folder / p) for p in ("sub/c.jpg", "broken.jpg", "a.jpg")]
    assert lines[2].endswith(',,,"not a recognised image format (captioner reads JPEG, PNG, GIF, BMP, TIFF, WEBP, PPM)",,')
    assert capsys.readouterr().out.startswith("captioned 2, failed 1 ->")


def test_resume_and_overwrite_flags(folder, model_dir, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    base = ["caption", str(folder), "--out", str(out), "--model", model_dir]
    assert main(base) == 0
    assert main(base) == 2
    assert "exists: pass --resume to continue it or --overwrite to replace it" in capsys.readouterr().err
    assert main(base + ["--resume"]) == 0
    assert capsys.readouterr().out.startswith("captioned 0, failed 0; 3 already in the output (0 of them failed) ->")
    assert main(base + ["--overwrite"]) == 0
    assert len(_records(out)) == 3
    with pytest.raises(SystemExit) as exit_info:
        main(base + ["--resume", "--overwrite"])
    assert exit_info.value.code == 2


@pytest.mark.parametrize(
    "argv, message",
    [
        (["caption", "missing/*.jpg", "--out", "x.jsonl"], "the pattern matches no files"),
        (["caption", "--out", "x.jsonl"], "no inputs"),
        (["caption", "in", "--out", "x.jsonl", "--beam-size", "2", "--n-best", "3"], "n_best must be between 1 and beam_size (2), got 3"),
        (["caption", "in", "--out", "x.jsonl", "--heatmaps", "maps", "--colormap", "nope"], "unknown colormap 'nope'"),
        (["caption", "in", "--out", "x.jsonl"], "no default model yet"),
        (["inspect", "in/a.jpg", "--out", "maps"], "no default model yet"),
    ],
)
def test_usage_errors_exit_2_with_a_message(folder, tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(directory, "PRETRAINED_DIR", tmp_path / "no-pretrained-here")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x.jsonl").exists()


def test_help_documents_inputs_and_record(capsys):
    with pytest.raises(SystemExit):
        main(["caption", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for phrase in ["--list FILE", "glob pattern", "--resume", "--heatmaps DIR", '"error": null', "torchrun"]:
        assert phrase in text


def test_style_options_map_onto_heatmap_style():
    args = build_parser().parse_args(
        ["inspect", "x.jpg", "--out", "d", "--colormap", "viridis", "--opacity", "0.3", "--smooth", "nearest", "--sigma", "1.5"]
    )
    assert _style(args) == HeatmapStyle(colormap="viridis", opacity=0.3, smooth="nearest", sigma=1.5)
    assert _style(build_parser().parse_args(["inspect", "x.jpg", "--out", "d"])) == HeatmapStyle()
    assert _style(build_parser().parse_args(["inspect", "x.jpg", "--out", "d", "--no-fade"])) == HeatmapStyle(fade=False)


def test_inspect_writes_grid_gif_and_arrays(folder, model_dir, tmp_path, capsys):
    maps = tmp_path / "maps"
    argv = ["inspect", str(folder / "a.jpg"), str(folder / "sub"), "--out", str(maps), "--model", model_dir]
    assert main(argv + ["--beam-size", "2", "--smooth", "nearest", "--colormap", "viridis"]) == 0
    for stem in ["a.jpg", "sub/c.jpg"]:
        saved = json.loads((maps / f"{stem}.json").read_text())
        assert saved["score"] <= 0 and saved["caption"] == " ".join(saved["words"])
        with Image.open(maps / f"{stem}.gif") as gif:
            assert gif.n_frames == max(1, len(saved["words"]))
        assert (maps / f"{stem}_grid.png").is_file() and (maps / f"{stem}_attention.npy").is_file()
    assert f"heatmaps of 2 images in {maps}" in capsys.readouterr().out
    assert main(["inspect", str(folder / "a.jpg"), "--out", str(maps), "--model", model_dir]) == 0
    assert f"heatmaps of 1 image in {maps}" in capsys.readouterr().out  # not "1 images"


# The sentinel's bias sets how much it takes: near log(196), where its score meets the 196 cells' together, some words.
@pytest.mark.parametrize("sentinel_bias, taken", [(30.0, "all"), (5.22, "some"), (-30.0, "none")])
def test_inspect_greys_the_frames_of_words_the_sentinel_took(folder, tmp_path, vocab, sentinel_bias, taken):
    import numpy as np

    from captioner.viz.greying import SENTINEL_THRESHOLD

    # location-based scores give the sentinel its own score of h
    torch.manual_seed(0)
    config = ModelConfig(embed_dim=16, hidden_dim=16, attention_dim=16, max_len=6, attention="location", sentinel=True)
    model = Captioner.from_config(config, vocab)
    with torch.no_grad():
        model.model.decoder.sentinel.location_score.bias.fill_(sentinel_bias)
    model.save_pretrained(tmp_path / "model")
    maps = tmp_path / "maps"
    argv = ["inspect", str(folder / "a.jpg"), "--out", str(maps), "--model", str(tmp_path / "model"), "--colormap", "viridis"]
    assert main(argv) == 0
    shares = json.loads((maps / "a.jpg.json").read_text())["sentinel_shares"]
    away = [share > SENTINEL_THRESHOLD for share in shares]
    assert {"all": all(away), "some": any(away) and not all(away), "none": not any(away)}[taken], shares
    panel = HeatmapStyle().panel_size
    with Image.open(maps / "a.jpg.gif") as gif:
        assert gif.n_frames == len(shares) > 0
        for t, greyed in enumerate(away):
            gif.seek(t)
            frame = np.asarray(gif.convert("RGB"))[:panel, :panel].astype(int)
            spread = int(np.abs(frame - frame.mean(axis=2, keepdims=True)).max())  # 0 for grey
            assert (spread <= 4) == greyed, (t, shares[t], spread)


def test_torchrun_two_processes_merge_in_input_order(folder, model_dir, tmp_path):
    (folder / "bad.jpg").write_bytes(b"")
    (folder / "sub" / "d.png").write_bytes((folder / "b.png").read_bytes())
    out = tmp_path / "r.jsonl"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "captioner",
        "caption",
        str(folder),
        "--out",
        str(out),
        "--model",
        model_dir,
        "--batch-size",
        "2",
    ]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 1, done.stderr[-3000:]  # one image failed
    expected = [str(folder / p) for p in ("a.jpg", "b.png", "bad.jpg", "sub/c.jpg", "sub/d.png")]
    records = _records(out)
    assert [r["path"] for r in records] == expected
    assert records[2]["error"] == "empty file (0 bytes)"
    assert records[1]["caption"] == records[4]["caption"]  # same pixels, one on each rank
    assert not list(tmp_path.glob("r.jsonl.part-*"))
    assert "captioned 4, failed 1" in done.stdout  # rank 0 lived to merge and report


def test_an_internal_crash_exits_3_with_a_message(folder, model_dir, tmp_path, monkeypatch, capsys):
    from captioner import batch

    def crash(*args, **kwargs):
        raise RuntimeError("an unforeseen bug")

    monkeypatch.setattr(batch, "run_batch", crash)
    assert main(["caption", str(folder), "--out", str(tmp_path / "r.jsonl"), "--model", model_dir]) == 3
    err = capsys.readouterr().err
    assert "captioner caption: internal error" in err and "an unforeseen bug" in err


def test_exit_statuses_are_documented_in_the_cli_reference_and_help(capsys):
    reference = (ROOT / "docs" / "cli.md").read_text()
    assert all(f"| {status} |" in reference for status in (0, 1, 2, 3))
    with pytest.raises(SystemExit):
        main(["caption", "--help"])
    assert "3 internal error" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    "content, suffix, message",
    [
        ('{"path": "a", "caption": null, "score": null, "error": null}\nnot json\n{"path": "b", "error": null}\n', ".jsonl", "line 2"),
        ('{"path": "a"}\n', ".jsonl", "line 1"),
        ("path,caption,score,error,peaks\na,b,1,,[]\n", ".csv", "columns"),
        ("path,caption\na\n", ".csv", "columns"),
        ("path,caption,score,error\na,b\n", ".csv", "line 2"),
        (bytes(range(256)) * 4, ".jsonl", "not a text file"),
        (bytes(range(256)) * 4, ".csv", "not a"),
    ],
)
def test_unusable_resume_files_are_usage_errors(folder, model_dir, tmp_path, capsys, content, suffix, message):
    out = tmp_path / f"r{suffix}"
    (out.write_bytes if isinstance(content, bytes) else out.write_text)(content)
    assert main(["caption", str(folder), "--out", str(out), "--model", model_dir, "--resume", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_inspect_survives_odd_and_long_file_names(folder, model_dir, tmp_path):
    odd = os.path.join(os.fsencode(folder), b"\xff\xfe.jpg")
    os.rename(os.fsencode(folder / "a.jpg"), odd)
    (folder / "b.png").rename(folder / ("b" * 245 + ".png"))
    maps = tmp_path / "maps"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", PYTHONIOENCODING="utf-8")
    command = [sys.executable, "-m", "captioner", "inspect", str(folder), "--out", str(maps), "--model", model_dir]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=240)
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")[-3000:]
    assert "heatmaps of 3 images" in done.stdout.decode()
    assert os.path.isfile(os.path.join(os.fsencode(maps), b"\xff\xfe.jpg.gif"))
    assert len(list(maps.glob("bbbb*-*.gif"))) == 1


def test_inspect_shows_escape_sequences_in_file_names_as_text(folder, model_dir, tmp_path, capsys):
    hostile = folder / "\x1b]0;owned\x07\x1b[2J.jpg"
    (folder / "a.jpg").rename(hostile)
    (folder / "\x1b[31mbroken.jpg").write_bytes(b"")
    assert main(["inspect", str(folder), "--out", str(tmp_path / "maps"), "--model", model_dir]) == 1
    shown = capsys.readouterr()
    assert "\x1b" not in shown.out + shown.err and "\x07" not in shown.out + shown.err
    assert "\\x1b]0;owned\\x07\\x1b[2J.jpg:" in shown.out and "\\x1b[31mbroken.jpg: failed" in shown.err


def test_retry_failed_on_the_command_line(folder, model_dir, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    (folder / "late.jpg").write_bytes(b"")
    base = ["caption", str(folder), "--out", str(out), "--model", model_dir, "--no-progress"]
    assert main(base) == 1
    Image.open(folder / "a.jpg").save(folder / "late.jpg")
    assert main(base + ["--resume"]) == 1  # the old failure stands
    assert main(base + ["--retry-failed"]) == 0
    assert "captioned 1, failed 0; 3 already in the output" in capsys.readouterr().out
    assert [r["error"] for r in _records(out)] == [None] * 4


def test_caption_names_objects_by_default_and_decoder_words_turns_it_off(folder, tmp_path):
    named, plain, table = tmp_path / "named.jsonl", tmp_path / "plain.jsonl", tmp_path / "named.csv"
    assert main(["caption", str(folder), "--out", str(named), "--model", "objects", "--no-progress"]) == 0
    assert main(["caption", str(folder), "--out", str(plain), "--model", "objects", "--no-progress", "--decoder-words"]) == 0
    records = _records(named)
    assert all(r["objects"] for r in records)
    for record in records:
        assert {o["source"] for o in record["objects"]} <= {"decoder", "classifier", "stamps", "detector"}
        # an object's name may be several words ("tape measure"), one word of the caption's word list
        indices = [o["index"] for o in record["objects"]]
        assert indices == sorted(set(indices)) and all(f" {o['word']}" in f" {record['caption']}" for o in record["objects"])
    assert all("objects" not in r for r in _records(plain))
    assert main(["caption", str(folder), "--out", str(table), "--model", "objects", "--no-progress"]) == 0
    header = table.read_text().splitlines()[0].split(",")
    assert header[-1] == "objects"


def test_no_detector_names_objects_without_people_or_detections(photos, tmp_path):
    (tmp_path / "in").mkdir()
    photos["astronaut"].save(tmp_path / "in" / "astronaut.jpg")
    photos["chelsea"].save(tmp_path / "in" / "chelsea.jpg")
    full, fast = tmp_path / "full.jsonl", tmp_path / "fast.jsonl"
    base = ["caption", str(tmp_path / "in"), "--model", "objects", "--no-progress", "--out"]
    assert main(base + [str(full)]) == 0
    assert main(base + [str(fast), "--no-detector"]) == 0
    full_records, fast_records = {Path(r["path"]).name: r for r in _records(full)}, {Path(r["path"]).name: r for r in _records(fast)}
    # the detector finds the astronaut; without it no word comes from a detection, and objects are still named
    assert "person" in full_records["astronaut.jpg"]["caption"].split()
    assert "person" not in fast_records["astronaut.jpg"]["caption"].split()
    for record in fast_records.values():
        assert record["objects"] and all(o["source"] in ("decoder", "classifier", "stamps") for o in record["objects"])
        assert all(o["box"] is None and (o["confirmed_by"] or "whole picture: ").startswith("whole picture: ") for o in record["objects"])
    assert fast_records["chelsea.jpg"]["caption"] == full_records["chelsea.jpg"]["caption"] == "a photo of a cat"
    # the same switch on inspect and evaluate
    maps = tmp_path / "maps"
    assert main(["inspect", str(tmp_path / "in" / "astronaut.jpg"), "--out", str(maps), "--model", "objects", "--no-detector"]) == 0
    saved = json.loads((maps / "astronaut.jpg.json").read_text())
    assert saved["caption"] == fast_records["astronaut.jpg"]["caption"] and "detector" not in {o["source"] for o in saved["objects"]}
    (tmp_path / "in" / "photos.csv").write_text("file,main_object,accepted,kind\nastronaut.jpg,person,person|people,people\n")
    report = tmp_path / "report.json"
    argv = ["evaluate", "--model", "objects", "--photos", str(tmp_path / "in"), "--beam-size", "3", "--out", str(report)]
    assert main(argv) == 0 and json.loads(report.read_text())["by_kind"]["people"]["rate"] == 1.0
    assert main(argv + ["--no-detector"]) == 0 and json.loads(report.read_text())["by_kind"]["people"]["rate"] == 0.0


def test_caption_csv_carries_the_lab_models_centres_and_sentinel_shares(folder, model_dir, tmp_path, vocab, capsys):
    import csv

    torch.manual_seed(0)
    lab = tmp_path / "lab-model"
    config = ModelConfig(embed_dim=16, hidden_dim=16, attention_dim=16, max_len=6, local_sigma=1.5, sentinel=True)
    Captioner.from_config(config, vocab).save_pretrained(lab)
    lines, table = tmp_path / "r.jsonl", tmp_path / "r.csv"
    for out in (lines, table):
        assert main(["caption", str(folder), "--out", str(out), "--model", str(lab), "--no-progress"]) == 0
    with open(table, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["path", "caption", "score", "error", "grid", "centres", "sentinel_shares"]
    records = _records(lines)
    assert [row["path"] for row in rows] == [r["path"] for r in records]
    for row, record in zip(rows, records):
        n = len(record["caption"].split())
        # JSON text in their cells, as the JSON lines have them: one [row, column] and one share a word
        assert json.loads(row["grid"]) == record["grid"] == [14, 14]
        assert json.loads(row["centres"]) == record["centres"] and len(record["centres"]) == n
        assert json.loads(row["sentinel_shares"]) == record["sentinel_shares"] and len(record["sentinel_shares"]) == n
    # --resume continues the file with the same model; another model's columns differ: a usage error
    assert main(["caption", str(folder), "--out", str(table), "--model", str(lab), "--no-progress", "--resume"]) == 0
    assert main(["caption", str(folder), "--out", str(table), "--model", model_dir, "--no-progress", "--resume"]) == 2
    assert "use the same model and --n-best" in capsys.readouterr().err
    plain = tmp_path / "plain.csv"  # a model without the lab's variants writes none of their columns
    assert main(["caption", str(folder), "--out", str(plain), "--model", model_dir, "--no-progress"]) == 0
    assert plain.read_text().splitlines()[0] == "path,caption,score,error"
