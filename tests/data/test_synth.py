"""Tests for captioner.data.synth: determinism, splits, held-out pairs, boxes, pixels and grounding."""

import json
import random

import numpy as np
import pytest
from PIL import Image

from captioner.data import synth

COUNTS = {"train": 10, "val": 4, "test": 4, "comp": 8}
SIZE = (160, 128)  # not square, to catch W/H mix-ups


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    path = synth.generate_dataset(
        out, n_train=COUNTS["train"], n_val=COUNTS["val"], n_test=COUNTS["test"], n_comp=COUNTS["comp"], seed=7, image_size=SIZE
    )
    data = json.loads(path.read_text())
    images = {e["filename"]: np.asarray(Image.open(out / e["filepath"] / e["filename"]).convert("RGB")) for e in data["images"]}
    return path, data, images


@pytest.fixture(scope="module")
def scenes():
    """Many small scenes straight from generate_scene (objects and sentences as JSON-like dicts)."""
    out = []
    for k in range(120):
        scene = synth.generate_scene(np.random.default_rng(1000 + k), image_size=96, compositional=k % 4 == 0)
        out.append(
            (
                {"objects": [o.to_json() for o in scene.objects], "sentences": [s.to_json() for s in scene.sentences]},
                np.asarray(scene.image),
            )
        )
    return out


def all_entries(dataset, scenes):
    _, data, images = dataset
    yield from ((e, images[e["filename"]]) for e in data["images"])
    yield from scenes


def refs(g):
    return [] if g is None else ([g] if isinstance(g, int) else g)


def object_words(obj):
    return {obj["color"], obj["shape"], synth.PLURALS[obj["shape"]], *synth.SIZE_WORDS[obj["size"]]}


def holds(rel, a, b):
    ax0, ay0, ax1, ay1 = a["box"]
    bx0, by0, bx1, by1 = b["box"]
    return {"left": ax1 <= bx0, "right": ax0 >= bx1, "above": ay1 <= by0, "below": ay0 >= by1}[rel]


# -----------------------------------------------------------------------------


def test_held_out_pairs_design():
    held = set(synth.HELD_OUT_PAIRS)
    assert sorted(c for c, _ in held) == sorted(synth.COLORS)  # every colour held out with one shape
    train = set(synth.training_pairs())
    assert not held & train
    assert {c for c, _ in train} == set(synth.COLORS)
    assert {s for _, s in train} == set(synth.SHAPES)
    assert len(synth.vocabulary()) < 60


def test_same_seed_same_bytes_different_seed_differs(tmp_path):
    kw = dict(n_train=3, n_val=1, n_test=1, n_comp=2, image_size=64)
    a = synth.generate_dataset(tmp_path / "a", seed=1, **kw)
    b = synth.generate_dataset(tmp_path / "b", seed=1, workers=2, **kw)  # processes change nothing
    c = synth.generate_dataset(tmp_path / "c", seed=2, **kw)
    assert a.read_bytes() == b.read_bytes()
    names = sorted(p.name for p in (tmp_path / "a" / "images").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b" / "images").iterdir())
    assert len(names) == 7
    for n in names:
        assert (tmp_path / "a" / "images" / n).read_bytes() == (tmp_path / "b" / "images" / n).read_bytes()
    assert a.read_bytes() != c.read_bytes()
    assert any((tmp_path / "a" / "images" / n).read_bytes() != (tmp_path / "c" / "images" / n).read_bytes() for n in names)


def test_generate_scene_accepts_seed_random_and_generator():
    one = synth.generate_scene(random.Random(5), image_size=64)
    two = synth.generate_scene(random.Random(5), image_size=64)
    assert one.image.tobytes() == two.image.tobytes() and one.sentences == two.sentences
    assert synth.generate_scene(3, image_size=64).objects == synth.generate_scene(np.random.default_rng(3), image_size=64).objects


def test_splits_counts_and_layout(dataset):
    path, data, images = dataset
    assert path.name == "dataset_synth.json"
    assert data["dataset"] == "synth" and data["version"] == synth.VERSION == 2 and data["seed"] == 7
    assert data["image_size"] == list(SIZE)
    assert data["held_out_pairs"] == [list(p) for p in synth.HELD_OUT_PAIRS]
    for split, n in COUNTS.items():
        entries = [e for e in data["images"] if e["split"] == split]
        assert [e["filename"] for e in entries] == [f"{split}_{i:06d}.png" for i in range(n)]
    assert [e["imgid"] for e in data["images"]] == list(range(sum(COUNTS.values())))
    sentids = [s["sentid"] for e in data["images"] for s in e["sentences"]]
    assert sentids == list(range(len(sentids)))
    for e in data["images"]:
        assert e["filepath"] == "images" and len(e["sentences"]) == synth.N_CAPTIONS
        assert e["sentids"] == [s["sentid"] for s in e["sentences"]]
        assert all(s["imgid"] == e["imgid"] for s in e["sentences"])
        assert 1 <= len(e["objects"]) <= synth.MAX_OBJECTS
        assert images[e["filename"]].shape == (SIZE[1], SIZE[0], 3)
    img = Image.open(path.parent / "images" / "train_000000.png")
    assert img.mode == "RGB" and img.format == "PNG"


def test_held_out_pairs_only_in_comp(dataset, scenes):
    held = {tuple(p) for p in synth.HELD_OUT_PAIRS}
    _, data, _ = dataset
    for e in data["images"]:
        pairs = {(o["color"], o["shape"]) for o in e["objects"]}
        if e["split"] == "comp":
            assert pairs & held, e
        else:
            assert not pairs & held, e
    # generate_scene's own switch, over more scenes
    for k, (e, _) in enumerate(scenes):
        pairs = {(o["color"], o["shape"]) for o in e["objects"]}
        assert bool(pairs & held) == (k % 4 == 0)


def test_boxes_inside_image_disjoint_and_related(dataset, scenes):
    for e, img in all_entries(dataset, scenes):
        h, w = img.shape[:2]
        objs = e["objects"]
        for o in objs:
            x0, y0, x1, y1 = o["box"]
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        for i, a in enumerate(objs):
            for b in objs[i + 1 :]:
                ix = min(a["box"][2], b["box"][2]) - max(a["box"][0], b["box"][0])
                iy = min(a["box"][3], b["box"][3]) - max(a["box"][1], b["box"][1])
                assert ix <= 0 or iy <= 0, (a, b)  # threshold: no overlap at all
                assert any(holds(r, a, b) for r in synth.RELATIONS)


def test_sizes_clearly_different(scenes):
    sides = {"small": [], "large": []}
    for e, _ in scenes:
        for o in e["objects"]:
            x0, y0, x1, y1 = o["box"]
            sides[o["size"]].append(max(x1 - x0, y1 - y0))
    assert sides["small"] and sides["large"]
    assert max(sides["small"]) * 1.4 < min(sides["large"])


def test_box_holds_object_colour_and_is_tight(dataset, scenes):
    for e, img in all_entries(dataset, scenes):
        for o in e["objects"]:
            rgb = np.array(o["rgb"])
            assert np.abs(rgb - synth.COLORS[o["color"]]).max() <= synth.COLOR_JITTER
            x0, y0, x1, y1 = o["box"]
            inside = (img[y0:y1, x0:x1] == rgb).all(axis=2)
            assert inside.mean() > 0.25, o
            # tight: the colour touches all four sides of the box
            assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any(), o


def test_object_contrasts_with_background_around_it(dataset, scenes):
    for e, img in all_entries(dataset, scenes):
        h, w = img.shape[:2]
        for o in e["objects"]:
            x0, y0, x1, y1 = o["box"]
            # the box grown by one pixel; pixels not painted with the object's colour are background
            patch = img[max(y0 - 1, 0) : y1 + 1, max(x0 - 1, 0) : x1 + 1].reshape(-1, 3).astype(float)
            rgb = np.array(o["rgb"], float)
            bg = patch[(patch != rgb).any(axis=1)]
            dist = np.linalg.norm(bg - rgb, axis=1)
            assert (dist >= synth.MIN_CONTRAST).mean() > 0.9, o


def test_tokens_are_raw_split_short_and_in_vocabulary(dataset, scenes):
    vocab = set(synth.vocabulary())
    for e, _ in all_entries(dataset, scenes):
        raws = [s["raw"] for s in e["sentences"]]
        assert len(raws) == synth.N_CAPTIONS and len(set(raws)) == len(raws)
        for s in e["sentences"]:
            assert s["tokens"] == s["raw"].split()
            assert s["raw"] == s["raw"].lower() and all(t.isalpha() for t in s["tokens"])
            assert len(s["tokens"]) <= synth.MAX_TOKENS
            assert set(s["tokens"]) <= vocab
            assert len(s["grounding"]) == len(s["tokens"])


def test_grounding_points_at_the_objects_own_words(dataset, scenes):
    for e, _ in all_entries(dataset, scenes):
        objs = e["objects"]
        for s in e["sentences"]:
            for tok, g in zip(s["tokens"], s["grounding"]):
                if g is None:
                    assert tok not in set(synth.COLORS) | set(synth.SHAPES) | set(synth.PLURALS.values())
                    continue
                idx = refs(g)
                assert all(0 <= i < len(objs) for i in idx)
                assert all(tok in object_words(objs[i]) for i in idx), (tok, g, s["raw"])
                plural = tok in synth.PLURALS.values()
                if isinstance(g, list):  # a count phrase: several objects, sorted, one colour-shape
                    assert len(g) >= 2 and g == sorted(set(g))
                    assert len({(objs[i]["color"], objs[i]["shape"]) for i in g}) == 1
                else:
                    assert isinstance(g, int) and not plural


def test_captions_name_every_object(dataset, scenes):
    for e, _ in all_entries(dataset, scenes):
        objs = e["objects"]
        for s in e["sentences"]:
            for i, o in enumerate(objs):
                named = {t for t, g in zip(s["tokens"], s["grounding"]) if i in refs(g)}
                assert o["color"] in named, (i, s["raw"])
                assert o["shape"] in named or synth.PLURALS[o["shape"]] in named, (i, s["raw"])


def test_count_words_match_their_phrase(scenes):
    seen = set()
    for e, _ in scenes:
        for s in e["sentences"]:
            toks, grd = s["tokens"], s["grounding"]
            for k, tok in enumerate(toks):
                if tok in synth.NUMBER_WORDS.values():
                    n = {v: c for c, v in synth.NUMBER_WORDS.items()}[tok]
                    assert isinstance(grd[k + 1], list) and len(grd[k + 1]) == n, s["raw"]
                    seen.add(n)
    assert seen >= {2, 3}  # count phrases do occur


def test_relations_in_captions_are_true(dataset, scenes):
    seen = set()
    for e, _ in all_entries(dataset, scenes):
        objs = e["objects"]
        for s in e["sentences"]:
            toks, grd = s["tokens"], s["grounding"]
            for rel, words in synth.RELATIONS.items():
                n = len(words)
                for k in range(1, len(toks) - n):
                    if tuple(toks[k : k + n]) != words or (rel in ("left", "right") and toks[k - 1] == "the"):
                        continue
                    a = grd[k - 1]  # the shape word before
                    b = next(g for g in grd[k + n :] if g is not None)  # the first object after
                    assert isinstance(a, int) and isinstance(b, int), s["raw"]
                    assert holds(rel, objs[a], objs[b]), (rel, objs[a], objs[b], s["raw"])
                    seen.add(rel)
    assert seen == set(synth.RELATIONS)


def test_object_counts_cover_one_to_four(scenes):
    assert {len(e["objects"]) for e, _ in scenes} == {1, 2, 3, 4}


@pytest.mark.parametrize("side", [12, 31])
def test_shape_masks_look_like_their_names(side):
    m = {s: synth.shape_mask(s, side) for s in synth.SHAPES}
    c, e = (side - 1) // 2, side - 1
    assert m["square"].all()
    for s in ("circle", "diamond", "star", "cross"):
        assert not m[s][0, 0] and not m[s][e, e] and m[s][c, c], s
    rows = np.nonzero(m["triangle"].any(axis=1))[0]  # apex up: narrow top row, wide bottom row
    assert m["triangle"][rows[0]].sum() <= 3 and m["triangle"][rows[-1]].sum() >= 0.8 * side
    assert m["cross"][c, :].all() and m["cross"][:, c].all() and not m["cross"][2, 2]
    assert m["diamond"][c, :].all() and m["diamond"][:, c].all()
    assert not m["star"][e, c]  # the notch between the two lower points
    fractions = {s: m[s].mean() for s in synth.SHAPES}
    assert fractions["star"] < fractions["diamond"] < fractions["circle"] < fractions["square"]


def test_objects_are_named_in_mention_order(dataset, scenes):
    """Captions name objects by colour, then shape, then size; a relation's second object may jump ahead."""
    colors, sizes = list(synth.COLORS), list(synth.SIZES)
    rank = lambda o: (colors.index(o["color"]), synth.SHAPES.index(o["shape"]), sizes.index(o["size"]))
    relation_words = {"left", "right", "above", "below"}  # not "of": "a picture of ..." is a list
    for e, _ in all_entries(dataset, scenes):
        objs = e["objects"]
        for s in e["sentences"]:
            phrases = []
            for g in s["grounding"]:
                if g is not None and (not phrases or phrases[-1] != g):
                    phrases.append(g)
            firsts = [min(refs(g), key=lambda i: rank(objs[i])) for g in phrases]
            if relation_words & set(s["tokens"]):
                assert rank(objs[firsts[0]]) == min(rank(o) for o in objs), s["raw"]
                del firsts[1]
            keys = [rank(objs[i]) for i in firsts]
            assert keys == sorted(keys), s["raw"]


def test_split_scene_is_the_datasets_image_and_captions(dataset):
    _, data, images = dataset
    for entry in [e for e in data["images"] if e["split"] in ("test", "comp")][:3]:
        split, index = entry["split"], int(entry["filename"].split("_")[1].split(".")[0])
        scene = synth.split_scene(split, index, seed=7, image_size=SIZE)
        assert np.array_equal(np.asarray(scene.image), images[entry["filename"]])
        assert [s.raw for s in scene.sentences] == [s["raw"] for s in entry["sentences"]]
        assert [o.to_json() for o in scene.objects] == entry["objects"]
