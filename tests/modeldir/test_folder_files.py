"""Everything read from a model folder is a regular file inside it (issue 25, item 3)."""

import os

import pytest

from captioner import CheckpointError
from captioner.data.objects import ObjectsDataError, known_objects
from captioner.modeldir.checkpoint import load_model
from captioner.modeldir.folder_files import model_file, read_model_json, read_model_text


@pytest.fixture
def saved(tmp_path, small_captioner):
    return small_captioner.save_pretrained(tmp_path / "m")


@pytest.mark.parametrize("name", ["README.md", "objects.json", "config.json", "vocab.json", "model.safetensors"])
def test_a_link_out_of_the_folder_refuses_the_model(tmp_path, saved, name):
    secret = tmp_path / "secret.txt"
    secret.write_text("PASSWORD=hunter2\n")
    target = saved / name
    if target.exists():
        target.rename(tmp_path / f"moved-{name}")
    os.symlink(secret, target)
    with pytest.raises(CheckpointError, match=f"{name}: a link to a file outside the model folder") as info:
        load_model(saved)
    assert "hunter2" not in str(info.value)


def test_proc_self_environ_as_the_card_is_refused(saved):
    os.symlink("/proc/self/environ", saved / "README.md")
    with pytest.raises(CheckpointError, match="outside the model folder"):
        read_model_text(saved, "README.md")
    with pytest.raises(CheckpointError, match="outside the model folder"):
        load_model(saved)


def test_a_link_to_another_file_of_the_folder_is_fine(saved):
    (saved / "card-v2.md").write_text("# card")
    os.symlink("card-v2.md", saved / "README.md")
    assert read_model_text(saved, "README.md") == "# card"
    load_model(saved)


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("README.md", b"\xff\xfe not utf-8", "not UTF-8"),
        ("objects.json", b"\xc3\x28", "not UTF-8"),
        ("objects.json", b"[" * 100_000 + b"]" * 100_000, "JSON nested too deeply"),
        ("objects.json", b"{not json", "not valid JSON"),
    ],
    ids=["card-latin1", "objects-latin1", "objects-nested", "objects-not-json"],
)
def test_unreadable_card_or_objects_list_cannot_load_this_model(saved, name, content, match):
    (saved / name).write_bytes(content)
    with pytest.raises(CheckpointError, match=f"{name}: {match}"):
        load_model(saved)
    if name == "objects.json":
        with pytest.raises(ObjectsDataError, match=match):
            known_objects(saved)


def test_a_folder_or_fifo_is_not_a_regular_file(saved):
    (saved / "README.md").mkdir()
    with pytest.raises(CheckpointError, match="not a regular file"):
        model_file(saved, "README.md")
    os.mkfifo(saved / "objects.json")
    with pytest.raises(CheckpointError, match="not a regular file"):
        read_model_json(saved, "objects.json")  # would block forever on open
