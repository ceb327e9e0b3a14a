"""captioner.files: atomic writes and directory replacement."""

import pytest

from captioner import files


def _folder(path, **contents):
    path.mkdir()
    for name, text in contents.items():
        (path / name).write_text(text)
    return path


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "rename-aside"])
def test_replace_directory_puts_the_new_folder_in_place_of_the_old(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(files, "_exchange", lambda a, b: False)
    _folder(tmp_path / "target", a="old", b="old")
    _folder(tmp_path / ".staging", a="new")
    files.replace_directory(tmp_path / ".staging", tmp_path / "target")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["target"]
    assert {p.name: p.read_text() for p in (tmp_path / "target").iterdir()} == {"a": "new"}


def test_replace_directory_without_a_previous_one(tmp_path):
    _folder(tmp_path / ".staging", a="new")
    files.replace_directory(tmp_path / ".staging", tmp_path / "target")
    assert (tmp_path / "target" / "a").read_text() == "new" and not (tmp_path / ".staging").exists()


def test_finite_json_writes_null_for_nan_and_infinities():
    import json

    import numpy as np

    text = files.finite_json({"loss": float("nan"), "scores": [1.5, float("inf"), np.float32("nan"), np.float64(2.0)], "n": 3})
    assert json.loads(text) == {"loss": None, "scores": [1.5, None, None, 2.0], "n": 3}
    assert "NaN" not in text and "Infinity" not in text
