"""Scenes of photographed objects (captioner.data.objects), on a small stand-in Tux Paint folder
made here: a few RGBA stamps with known shapes and two background photos."""

import csv
import json

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from captioner.data import objects as obj_mod
from captioner.data.objects import (
    ObjectsDataError,
    World,
    generate_dataset,
    ground_caption,
    held_out,
    mention_order,
    objects_named,
    read_table,
    split_scene,
)

STAMPS = [  # file, name, synonyms, category, nomirror, colour, shape
    ("animals/tiger.png", "tiger", "big cat", "animal", "no", (230, 120, 20), "disc"),
    ("animals/birds/hen.png", "hen", "chicken", "bird", "no", (150, 90, 40), "disc"),
    ("household/mug.png", "mug", "cup", "dish", "no", (30, 60, 200), "box"),
    ("vehicles/garbage_truck.png", "garbage truck", "truck", "vehicle", "yes", (40, 160, 40), "box"),
    ("food/grapes.png", "grapes", "", "fruit", "no", (120, 30, 140), "disc"),
    ("town/sign.png", "sign", "", "other", "no", (250, 250, 0), "box"),
]


def _stamp(color, shape, size=(60, 40)):
    w, h = size
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., :3] = color
    if shape == "disc":
        yy, xx = np.mgrid[0:h, 0:w]
        inside = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2 <= 1
    else:
        inside = np.ones((h, w), bool)
        inside[: h // 3, : w // 3] = False  # an L-ish outline: box and mask differ
    rgba[..., 3] = np.where(inside, 255, 0)
    return Image.fromarray(rgba, "RGBA")


@pytest.fixture(scope="module")
def world_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("tuxpaint")
    stamps = root / "usr/share/tuxpaint/stamps"
    templates = root / "usr/share/tuxpaint/templates"
    templates.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in obj_mod.TEMPLATES:
        Image.fromarray(rng.integers(60, 120, (150, 200, 3), dtype=np.uint8)).save(templates / name)
    rows = []
    for file, name, synonyms, category, nomirror, color, shape in STAMPS:
        (stamps / file).parent.mkdir(parents=True, exist_ok=True)
        _stamp(color, shape).save(stamps / file)
        rows.append(
            {
                "file": file,
                "use": "yes",
                "kind": "photo",
                "name": name,
                "synonyms": synonyms,
                "category": category,
                "nomirror": nomirror,
                "note": "",
            }
        )
    rows.append({**rows[0], "file": "animals/drawn.png", "use": "no", "kind": "drawing", "name": "drawn tiger"})
    table = root / "stamps.csv"
    with table.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


@pytest.fixture(scope="module")
def world(world_root):
    return World(world_root, world_root / "stamps.csv")


def test_the_table_keeps_only_rows_marked_for_use(world_root):
    names = [s.name for s in read_table(world_root / "stamps.csv")]
    assert "drawn tiger" not in names and len(names) == len(STAMPS)


def test_missing_stamps_say_how_to_get_them(tmp_path):
    with pytest.raises(ObjectsDataError, match="apt-get download tuxpaint-stamps-default"):
        World(tmp_path)


def test_a_missing_background_photo_is_named(world_root, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(world_root, root)
    (root / "usr/share/tuxpaint/templates/cliff.jpg").unlink()
    with pytest.raises(ObjectsDataError, match="cliff.jpg"):
        World(root, root / "stamps.csv")


def test_a_bad_table_row_names_the_file_and_line(world_root, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("file,use,name,synonyms,category,nomirror\na.png,yes,,,animal,no\n")
    with pytest.raises(ObjectsDataError, match=r"bad.csv, line 2: bad row \(empty name\)"):
        read_table(bad)


def test_scenes_are_deterministic_and_grounded(world):
    a, b = split_scene(world, "train", 3, seed=1), split_scene(world, "train", 3, seed=1)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    assert [s.raw for s in a.sentences] == [s.raw for s in b.sentences]
    for i in range(30):
        scene = split_scene(world, "train", i)
        assert 1 <= len(scene.objects) <= 3 and len(scene.sentences) == 5
        pixels = np.asarray(scene.image)
        for o in scene.objects:
            x0, y0, x1, y1 = o.box
            ys, xs = np.nonzero(o.mask)
            assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x0, y0, x1, y1)
            # the mask covers the stamp's flat colour (jittered), not the noisy background
            colour = np.array([s[5] for s in STAMPS if s[1] == o.info.name][0], float)
            under = pixels[o.mask].astype(float)
            assert under.std(axis=0).mean() < 10 and np.abs(under.mean(axis=0) - colour).max() < 100
            # the mask survives the round trip through COCO's run-length encoding
            assert np.array_equal(mask_utils.decode(o.to_json()["mask"]).astype(bool), o.mask)
        for s in scene.sentences:
            for k in range(len(scene.objects)):  # every object is named, and its words point at it
                grounded = [w for w, g in zip(s.tokens, s.grounding) if g == k]
                assert grounded, (s.raw, k)
            assert objects_named(list(s.tokens), [o.to_json() for o in scene.objects]), s.raw


def test_objects_are_named_largest_first(world):
    for i in range(30):
        scene = split_scene(world, "train", i)
        order = mention_order(scene.objects)
        assert [scene.objects[k].area for k in order] == sorted((o.area for o in scene.objects), reverse=True)
        first = [g for g in scene.sentences[0].grounding if g is not None]
        assert first[0] == order[0]


def test_objects_never_overlap(world):
    for i in range(30):
        masks = [o.mask for o in split_scene(world, "val", i).objects]
        assert sum(m.astype(int) for m in masks).max() == 1


def test_held_out_combinations_appear_only_in_the_heldout_split(world):
    def combos(scene):
        names = [o.info.name for o in scene.objects]
        out = [(a, b) for k, a in enumerate(names) for b in names[k + 1 :]]
        if scene.background != "generated":
            out += [(n, scene.background) for n in names]
        return out

    for i in range(25):
        assert not any(held_out(*c) for c in combos(split_scene(world, "train", i)))
        assert any(held_out(*c) for c in combos(split_scene(world, "heldout", i)))


def test_captions_use_the_right_article_and_some_for_plurals(world):
    seen = set()
    for i in range(60):
        for s in split_scene(world, "train", i).sentences:
            t = s.tokens
            for j, w in enumerate(t[1:], start=1):
                if w in ("grapes",) and t[j - 1] != "some":
                    pytest.fail(f"'{s.raw}' counts grapes with {t[j - 1]!r}")
            seen.update(t)
    assert {"an", "tiger", "garbage truck", "some", "grapes"} <= seen  # a name of two words is one token
    assert not {"garbage", "truck"} & seen


def test_generated_captions_ground_names_synonyms_and_categories():
    objects = [
        {"name": "garbage truck", "synonyms": ["truck"], "category": "vehicle"},
        {"name": "hen", "synonyms": ["chicken"], "category": "bird"},
        {"name": "tiger", "synonyms": [], "category": "animal"},
    ]
    words = "a garbage truck to the left of a chicken and an animal".split()
    found = {p.shape: p for p in ground_caption(words, objects)}
    assert found["garbage truck"].word_indices == [1, 2] and found["garbage truck"].objects == [0]
    assert found["chicken"].objects == [1] and found["animal"].objects == [2]
    assert objects_named(words, objects)
    # the generator's tokens: a name of two words is one token, grounded as the same phrase
    tokens = ["a", "garbage truck", "to", "the", "left", "of", "a", "chicken"]
    found = {p.shape: p for p in ground_caption(tokens, objects)}
    assert found["garbage truck"].word_indices == [1] and found["garbage truck"].objects == [0]
    assert found["chicken"].word_indices == [7] and objects_named(tokens, objects[:2])
    assert not objects_named("a truck and a hen".split(), objects)
    # a category word that fits two objects is not grounded
    two_animals = objects[2:] + [{"name": "cow", "synonyms": [], "category": "animal"}]
    assert ground_caption("an animal".split(), two_animals) == []


def test_dataset_files_in_the_karpathy_format(world_root, tmp_path):
    path = generate_dataset(tmp_path, world_root, world_root / "stamps.csv", n_train=6, n_val=2, n_test=2, n_heldout=2)
    data = json.loads(path.read_text())
    assert data["dataset"] == "objects" and len(data["images"]) == 12
    first = data["images"][0]
    assert (tmp_path / "images" / first["filename"]).is_file()
    assert {"name", "category", "box", "mask"} <= set(first["objects"][0])
    from captioner.data.datasets import load_dataset

    records = load_dataset(path)
    assert {r.split for r in records} == {"train", "val", "test", "heldout"} and records[0].objects


def test_the_dataset_does_not_depend_on_the_number_of_workers(world_root, tmp_path):
    one = generate_dataset(tmp_path / "one", world_root, world_root / "stamps.csv", n_train=8, n_val=0, n_test=0, n_heldout=4)
    two = generate_dataset(tmp_path / "two", world_root, world_root / "stamps.csv", n_train=8, n_val=0, n_test=0, n_heldout=4, workers=2)
    assert one.read_text() == two.read_text()
    for image in json.loads(one.read_text())["images"]:
        assert (tmp_path / "one/images" / image["filename"]).read_bytes() == (tmp_path / "two/images" / image["filename"]).read_bytes()


def test_evaluation_grounds_object_scenes_with_their_masks(world_root, tmp_path):
    """captioner evaluate's grounding report on an objects data set: names found by this module,
    attention scored against each object's mask. A map on the object scores high, a map elsewhere low."""
    from captioner.data.datasets import load_dataset
    from captioner.evaluation.evaluate import grounding_report
    from captioner.results.result import CaptionResult

    path = generate_dataset(tmp_path, world_root, world_root / "stamps.csv", n_train=0, n_val=0, n_test=12, n_heldout=0)
    records = load_dataset(path)
    assert {r.dataset for r in records} == {"objects"}

    def result(record, on_object):
        obj = record.objects[0]
        words = ["a", *obj["name"].split()]
        grid = np.full((len(words), 14, 14), 1e-6, np.float32)
        mask = mask_utils.decode(obj["mask"]).astype(bool)
        ys, xs = np.nonzero(mask)
        cy, cx = int(ys.mean() * 14 / mask.shape[0]), int(xs.mean() * 14 / mask.shape[1])
        if not on_object:  # the opposite corner of the picture
            cy, cx = 13 - cy, 13 - cx
        grid[:, cy, cx] = 1.0
        grid /= grid.sum(axis=(1, 2), keepdims=True)
        return CaptionResult(" ".join(words), words, grid, 0.0, np.ones(len(words), np.float32))

    sizes = [tuple(json.loads(path.read_text())["images"][i]["image_size"]) for i in range(len(records))]
    good = grounding_report(records, [result(r, True) for r in records], sizes)
    bad = grounding_report(records, [result(r, False) for r in records], sizes)
    assert good["attention"]["mask_count"] > 0
    assert good["attention"]["mass_in_mask"] > 0.4 > bad["attention"]["mass_in_mask"]
    assert good["attention"]["peak_in_box_rate"] > bad["attention"]["peak_in_box_rate"]
    by_word = good["attention_by_word"]
    assert by_word["first"]["count"] == len(records)  # one name phrase a caption
    assert by_word["first"]["count"] + by_word["later"]["count"] == good["attention"]["count"]
    # only one-object scenes have every object named by "a <name>"
    one_object = np.mean([len(r.objects) == 1 for r in records])
    assert good["objects_named_rate"] == pytest.approx(one_object)


def test_a_model_directory_says_which_objects_it_knows(world_root, tmp_path):
    from captioner.data.objects import known_objects, write_known_objects

    assert known_objects(tmp_path) is None  # models trained on other data say nothing
    write_known_objects(tmp_path, world_root / "stamps.csv")
    known = known_objects(tmp_path)
    assert known["animal"] == ["tiger"] and known["vehicle"] == ["garbage truck"]
    assert "drawn tiger" not in sum(known.values(), [])  # only what the scenes used
    (tmp_path / "objects.json").write_text("[1, 2]")
    with pytest.raises(ObjectsDataError, match="objects.json"):
        known_objects(tmp_path)
