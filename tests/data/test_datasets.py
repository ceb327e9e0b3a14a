"""Loaders for Karpathy/synth, COCO and caption-folder data sets, on small files written here."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from captioner.data.datasets import (
    CaptionRecord,
    DatasetError,
    assign_split,
    load_caption_folder,
    load_coco,
    load_dataset,
    load_karpathy,
    references,
    tokenize,
)


def png(path: Path, color=(200, 30, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 6), color).save(path)
    return path


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# tokenize, assign_split


def test_tokenize_lowercases_and_drops_punctuation():
    assert tokenize("A man's Dog, running (fast) on \"grass\"... Isn't it?") == [
        "a",
        "man",
        "'s",
        "dog",
        "running",
        "fast",
        "on",
        "grass",
        "is",
        "n't",
        "it",
    ]
    assert tokenize("  ") == []
    assert tokenize("3.5-inch screens!") == ["3.5-inch", "screens"]


def test_assign_split_is_deterministic_and_close_to_fractions():
    names = [f"img_{i:05d}.jpg" for i in range(4000)]
    first = [assign_split(n) for n in names]
    assert first == [assign_split(n) for n in names]
    counts = Counter(first)
    assert set(counts) == {"train", "val", "test"}
    assert 0.87 < counts["train"] / len(names) < 0.93
    assert 0.03 < counts["val"] / len(names) < 0.07
    assert [assign_split(n, (0.0, 1.0, 0.0)) for n in names[:20]] == ["val"] * 20


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.9, 0.2, 0.0), (1.1, -0.1, 0.0)])
def test_assign_split_rejects_bad_fractions(fractions):
    with pytest.raises(ValueError, match="fractions"):
        assign_split("a.jpg", fractions)


# ---------------------------------------------------------------------------------------------
# Karpathy split files


def karpathy_coco(tmp_path: Path) -> Path:
    """A dataset_coco.json in Karpathy's layout with one image per split, restval included."""
    images = []
    for n, (folder, split) in enumerate([("train2014", "train"), ("val2014", "val"), ("val2014", "test"), ("val2014", "restval")]):
        filename = f"COCO_{folder}_{n:012d}.jpg"
        png(tmp_path / "coco" / folder / filename)
        images.append(
            {
                "filepath": folder,
                "filename": filename,
                "split": split,
                "imgid": n,
                "cocoid": 1000 + n,
                "sentids": [2 * n, 2 * n + 1],
                "sentences": [
                    {"tokens": ["a", "dog", "on", "grass"], "raw": "A dog on grass.", "imgid": n, "sentid": 2 * n},
                    {"tokens": ["a", "brown", "dog"], "raw": "A brown dog", "imgid": n, "sentid": 2 * n + 1},
                ],
            }
        )
    return write_json(tmp_path / "dataset_coco.json", {"images": images, "dataset": "coco"})


def test_load_karpathy_coco_paths_splits_and_ids(tmp_path):
    records = load_karpathy(karpathy_coco(tmp_path), tmp_path / "coco")
    assert [r.split for r in records] == ["train", "val", "test", "train"]  # restval -> train
    assert [r.image_id for r in records] == [1000, 1001, 1002, 1003]  # cocoid wins over imgid
    assert records[1].image_path == tmp_path / "coco" / "val2014" / "COCO_val2014_000000000001.jpg"
    assert records[0].captions == [["a", "dog", "on", "grass"], ["a", "brown", "dog"]]
    assert records[0].objects is None and records[0].groundings is None


def test_load_karpathy_can_keep_restval(tmp_path):
    records = load_karpathy(karpathy_coco(tmp_path), tmp_path / "coco", restval_as_train=False)
    assert [r.split for r in records] == ["train", "val", "test", "restval"]


def test_load_karpathy_flickr_layout_without_filepath_and_raw_only(tmp_path):
    png(tmp_path / "Flicker8k_Dataset" / "1000.jpg")
    data = {
        "images": [
            {
                "filename": "1000.jpg",
                "imgid": 7,
                "split": "test",
                "sentences": [{"tokens": ["Two", "Dogs"]}, {"raw": "A child, in pink!"}],
            }
        ]
    }
    path = write_json(tmp_path / "dataset_flickr8k.json", data)
    [record] = load_karpathy(path, tmp_path / "Flicker8k_Dataset")
    assert record.image_path == tmp_path / "Flicker8k_Dataset" / "1000.jpg"
    assert record.image_id == 7
    assert record.captions == [["two", "dogs"], ["a", "child", "in", "pink"]]


def synth_json(tmp_path: Path, grounding=None, box=None) -> Path:
    png(tmp_path / "images" / "train_000000.png")
    tokens = ["a", "red", "circle", "left", "of", "two", "blue", "squares"]
    data = {
        "dataset": "synth",
        "version": 1,
        "images": [
            {
                "imgid": 0,
                "filename": "train_000000.png",
                "filepath": "images",
                "split": "train",
                "sentences": [
                    {
                        "raw": " ".join(tokens),
                        "tokens": tokens,
                        "grounding": grounding if grounding is not None else [None, 0, 0, None, None, None, [1, 2], [1, 2]],
                    },
                    {"raw": "a red circle", "tokens": ["a", "red", "circle"]},
                ],
                "objects": [
                    {"shape": "circle", "color": "red", "size": "small", "box": box or [1, 2, 5, 6], "rgb": [255, 0, 0]},
                    {"shape": "square", "color": "blue", "size": "big", "box": [10, 10, 20, 20], "rgb": [0, 0, 255]},
                    {"shape": "square", "color": "blue", "size": "big", "box": [30, 10, 40, 20], "rgb": [0, 0, 255]},
                ],
            }
        ],
    }
    return write_json(tmp_path / "dataset_synth.json", data)


def test_load_karpathy_reads_synth_objects_and_grounding(tmp_path):
    [record] = load_karpathy(synth_json(tmp_path), None)  # image root defaults to the JSON's folder
    assert record.image_path == tmp_path / "images" / "train_000000.png"
    assert record.image_id == 0
    assert [o["box"] for o in record.objects] == [[1, 2, 5, 6], [10, 10, 20, 20], [30, 10, 40, 20]]
    assert record.groundings == [[None, 0, 0, None, None, None, [1, 2], [1, 2]], None]
    assert len(record.groundings[0]) == len(record.captions[0])


@pytest.mark.parametrize(
    "grounding, message",
    [
        ([None, 0, 0], "one entry per token"),
        ([None, 0, 0, None, None, None, [1, 3], [1, 3]], "not an index"),
        ([None, "0", 0, None, None, None, None, None], "not an index"),
    ],
)
def test_load_karpathy_rejects_bad_grounding(tmp_path, grounding, message):
    path = synth_json(tmp_path, grounding=grounding)
    with pytest.raises(DatasetError, match=message) as info:
        load_karpathy(path, None)
    assert str(path) in str(info.value) and "images[0].sentences[0]" in str(info.value)


def test_load_karpathy_rejects_bad_box(tmp_path):
    path = synth_json(tmp_path, box=[5, 2, 1, 6])
    with pytest.raises(DatasetError, match=r"objects\[0\] box"):
        load_karpathy(path, None)


def test_load_karpathy_missing_image_is_named_unless_unchecked(tmp_path):
    path = karpathy_coco(tmp_path)
    (tmp_path / "coco" / "val2014" / "COCO_val2014_000000000002.jpg").unlink()
    with pytest.raises(DatasetError) as info:
        load_karpathy(path, tmp_path / "coco")
    message = str(info.value)
    assert str(path) in message and "1 of 4 images are missing" in message
    assert "COCO_val2014_000000000002.jpg" in message
    assert len(load_karpathy(path, tmp_path / "coco", check_images=False)) == 4


def test_load_karpathy_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="file not found") as info:
        load_karpathy(tmp_path / "nope.json", tmp_path)
    assert str(tmp_path / "nope.json") in str(info.value)


def test_load_karpathy_malformed_json(tmp_path):
    path = tmp_path / "dataset_flickr8k.json"
    path.write_text('{"images": [{"filename": "a.jpg",]}')
    with pytest.raises(DatasetError, match="not valid JSON") as info:
        load_karpathy(path, tmp_path)
    assert str(path) in str(info.value) and "line 1" in str(info.value)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"imgs": []}, "the top level has no 'images' key"),
        ([], "the top level should be a JSON object, got list"),
        ({"images": [{"filename": "a.jpg", "sentences": []}]}, r"images\[0\] has no 'split' key"),
        ({"images": [{"filename": "a.jpg", "split": "train"}]}, r"images\[0\] has no 'sentences' key"),
        (
            {"images": [{"filename": "a.jpg", "split": "train", "sentences": [{"sentid": 1}]}]},
            r"images\[0\].sentences\[0\] has neither a 'tokens' nor a 'raw' key",
        ),
        ({"images": [{"filename": "a.jpg", "split": "train", "sentences": "a dog"}]}, "should be list, got str"),
        (
            {
                "images": [
                    {"filename": "a.jpg", "split": "train", "imgid": 1, "sentences": []},
                    {"filename": "b.jpg", "split": "train", "imgid": 1, "sentences": []},
                ]
            },
            "repeats image id 1",
        ),
    ],
)
def test_load_karpathy_missing_keys_name_file_and_place(tmp_path, data, message):
    path = write_json(tmp_path / "dataset_coco.json", data)
    with pytest.raises(DatasetError, match=message) as info:
        load_karpathy(path, tmp_path, check_images=False)
    assert str(info.value).startswith(f"{path}: ")


# ---------------------------------------------------------------------------------------------
# COCO annotations


def coco_json(tmp_path: Path, name="captions_val2014.json") -> Path:
    for n in (1, 2, 3, 4):
        png(tmp_path / "val2014" / f"COCO_val2014_{n:012d}.jpg")
    data = {
        "info": {},
        "licenses": [],
        "images": [{"id": n, "file_name": f"COCO_val2014_{n:012d}.jpg", "width": 8, "height": 6} for n in (1, 2, 3, 4)],
        "annotations": [
            {"id": 11, "image_id": 1, "caption": "A dog on the GRASS."},
            {"id": 21, "image_id": 2, "caption": "Two cats, sleeping."},
            {"id": 12, "image_id": 1, "caption": "a brown dog"},
            {"id": 31, "image_id": 3, "caption": "A red bus"},
            {"id": 22, "image_id": 2, "caption": "cats on a bed"},
            {"id": 32, "image_id": 3, "caption": "a bus on a street"},
        ],  # image 4 has no caption
    }
    return write_json(tmp_path / name, data)


def test_load_coco_reads_captions_per_image(tmp_path):
    records = load_coco(coco_json(tmp_path), tmp_path / "val2014")
    assert [r.image_id for r in records] == [1, 2, 3]  # image 4 has no caption: left out
    assert records[0].captions == [["a", "dog", "on", "the", "grass"], ["a", "brown", "dog"]]
    assert records[1].captions == [["two", "cats", "sleeping"], ["cats", "on", "a", "bed"]]
    assert records[2].image_path == tmp_path / "val2014" / "COCO_val2014_000000000003.jpg"
    assert {r.split for r in records} == {"val"}  # from the file name


def test_load_coco_split_argument_and_unnamed_file(tmp_path):
    assert {r.split for r in load_coco(coco_json(tmp_path), tmp_path / "val2014", split="test")} == {"test"}
    records = load_coco(coco_json(tmp_path, "my_caps.json"), tmp_path / "val2014")
    assert [r.split for r in records] == [assign_split(r.image_path.name) for r in records]
    # a file name without a split: each image's split comes from its file name's hash
    many = {
        "images": [{"id": n, "file_name": f"{n}.jpg"} for n in range(60)],
        "annotations": [{"id": n, "image_id": n, "caption": "a dog"} for n in range(60)],
    }
    records = load_coco(write_json(tmp_path / "mine.json", many), tmp_path, check_images=False)
    assert [r.split for r in records] == [assign_split(f"{n}.jpg") for n in range(60)]
    assert {"train", "val", "test"} <= {r.split for r in records}


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.pop("annotations"), "the top level has no 'annotations' key"),
        (lambda d: d["annotations"][2].pop("caption"), r"annotations\[2\] has no 'caption' key"),
        (lambda d: d["images"][1].pop("file_name"), r"images\[1\] has no 'file_name' key"),
        (lambda d: d["annotations"][0].update(image_id=99), "image_id 99, which is not in 'images'"),
    ],
)
def test_load_coco_bad_files_name_file(tmp_path, edit, message):
    path = coco_json(tmp_path)
    data = json.loads(path.read_text())
    edit(data)
    write_json(path, data)
    with pytest.raises(DatasetError, match=message) as info:
        load_coco(path, tmp_path / "val2014")
    assert str(info.value).startswith(f"{path}: ")


def test_load_coco_missing_images_and_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="3 of 3 images are missing"):
        load_coco(coco_json(tmp_path), tmp_path / "train2014")
    with pytest.raises(DatasetError, match="file not found"):
        load_coco(tmp_path / "captions_train2014.json", tmp_path)


# ---------------------------------------------------------------------------------------------
# caption folders


def folder_with_images(tmp_path: Path) -> Path:
    folder = tmp_path / "mine"
    for rel in ("a.png", "b.png", "sub/c.png"):
        png(folder / rel)
    return folder


def test_load_caption_folder_jsonl_merges_lines_and_assigns_splits(tmp_path):
    folder = folder_with_images(tmp_path)
    lines = [
        {"image": "a.png", "caption": "A dog."},
        {"image": "sub/c.png", "captions": ["A cat!", "a grey cat"]},
        {"image": "./a.png", "caption": "a brown dog", "split": "val"},
        {"image": "b.png", "caption": "A bus"},
    ]
    (folder / "captions.jsonl").write_text(
        "\n".join(json.dumps(x) for x in lines[:2]) + "\n\n" + "\n".join(json.dumps(x) for x in lines[2:]) + "\n"
    )
    records = load_caption_folder(folder)
    assert [r.image_id for r in records] == ["a.png", "sub/c.png", "b.png"]
    a, c, b = records
    assert a.captions == [["a", "dog"], ["a", "brown", "dog"]] and a.split == "val"
    assert c.captions == [["a", "cat"], ["a", "grey", "cat"]] and c.image_path == folder / "sub" / "c.png"
    assert c.split == assign_split("sub/c.png") and b.split == assign_split("b.png")


def test_load_caption_folder_csv_with_bom_and_optional_split(tmp_path):
    folder = folder_with_images(tmp_path)
    with (folder / "captions.csv").open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Image", "caption", "split"])
        writer.writerow(["a.png", "A dog, running", ""])
        writer.writerow(["b.png", 'A "red" bus', "TEST"])
        writer.writerow(["a.png", "a dog", "train"])
        writer.writerow(["sub/c.png", "a cat", ""])
    records = {r.image_id: r for r in load_caption_folder(folder)}
    assert records["a.png"].captions == [["a", "dog", "running"], ["a", "dog"]]
    assert records["a.png"].split == "train"
    assert records["b.png"].split == "test" and records["b.png"].captions == [["a", "red", "bus"]]
    assert records["sub/c.png"].split == assign_split("sub/c.png")


def test_load_caption_folder_csv_without_split_column(tmp_path):
    folder = folder_with_images(tmp_path)
    (folder / "captions.csv").write_text("image,caption\na.png,one dog\na.png,two dogs\n")
    [record] = load_caption_folder(folder)
    assert record.captions == [["one", "dog"], ["two", "dogs"]] and record.split == assign_split("a.png")


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("captions.jsonl", '{"image": "a.png", "caption": "x"}\n{"image": "b.png", "caption": }\n', "line 2 is not valid JSON"),
        ("captions.jsonl", '{"caption": "a dog"}\n', "line 1 has no 'image' key"),
        ("captions.jsonl", '{"image": "a.png"}\n', "line 1 has neither a 'caption' nor a 'captions' key"),
        ("captions.jsonl", '{"image": "a.png", "captions": ["ok", 3]}\n', "should be a list of strings"),
        ("captions.jsonl", '{"image": "a.png", "caption": "..."}\n', "line 1 has an empty caption"),
        ("captions.jsonl", '["a.png", "a dog"]\n', "line 1 should be a JSON object"),
        (
            "captions.jsonl",
            '{"image": "a.png", "caption": "x", "split": "train"}\n{"image": "a.png", "caption": "y", "split": "val"}\n',
            "line 2 puts 'a.png' in split 'val'",
        ),
        ("captions.jsonl", "\n\n", "no captions"),
        ("captions.csv", "image,text\na.png,a dog\n", "should name columns 'image' and 'caption'"),
        ("captions.csv", "image,caption\na.png,a dog\n,a cat\n", "line 3 has no image"),
    ],
)
def test_load_caption_folder_errors_name_file_and_line(tmp_path, name, text, message):
    folder = folder_with_images(tmp_path)
    (folder / name).write_text(text)
    with pytest.raises(DatasetError, match=message) as info:
        load_caption_folder(folder)
    assert str(info.value).startswith(f"{folder / name}: ")


def test_load_caption_folder_file_choice_and_missing_images(tmp_path):
    folder = folder_with_images(tmp_path)
    with pytest.raises(DatasetError, match="has neither captions.jsonl nor captions.csv"):
        load_caption_folder(folder)
    with pytest.raises(DatasetError, match="folder not found"):
        load_caption_folder(tmp_path / "absent")
    (folder / "captions.jsonl").write_text('{"image": "gone.png", "caption": "a dog"}\n')
    with pytest.raises(DatasetError, match="1 of 1 images are missing") as info:
        load_caption_folder(folder)
    assert "gone.png" in str(info.value)
    (folder / "captions.csv").write_text("image,caption\na.png,a dog\n")
    with pytest.raises(DatasetError, match="has both"):
        load_caption_folder(folder)


# ---------------------------------------------------------------------------------------------
# load_dataset picks the loader


def test_load_dataset_dispatches_on_path(tmp_path):
    karpathy = karpathy_coco(tmp_path)
    assert [r.image_id for r in load_dataset(karpathy, tmp_path / "coco")] == [1000, 1001, 1002, 1003]
    assert [r.split for r in load_dataset(karpathy, tmp_path / "coco", restval_as_train=False)][-1] == "restval"
    coco = coco_json(tmp_path)
    assert [r.image_id for r in load_dataset(coco, tmp_path / "val2014")] == [1, 2, 3]
    assert {r.split for r in load_dataset(coco, tmp_path / "val2014", split="train")} == {"train"}
    synth = synth_json(tmp_path)
    assert load_dataset(synth)[0].objects is not None  # image root defaults to the JSON's folder

    folder = folder_with_images(tmp_path)
    (folder / "captions.jsonl").write_text('{"image": "a.png", "caption": "a dog"}\n')
    assert [r.image_id for r in load_dataset(folder)] == ["a.png"]
    other = tmp_path / "elsewhere.csv"
    other.write_text("image,caption\nb.png,a bus\n")
    [record] = load_dataset(other, folder)
    assert record.image_path == folder / "b.png"

    unknown = write_json(tmp_path / "other.json", {"images": [{"file_name": "a.png"}]})
    with pytest.raises(DatasetError, match="not a recognised caption data set") as info:
        load_dataset(unknown)
    assert str(unknown) in str(info.value)


def test_references_joins_tokens():
    records = [CaptionRecord(Path("a.png"), [["a", "dog"], ["one", "dog"]], "test", 5)]
    assert references(records) == {5: ["a dog", "one dog"]}
