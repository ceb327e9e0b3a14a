"""Quality bars of the shipped default model ("objects"), on generated scenes it never saw and on
real photographs.

The scenes are the first images of the test and heldout splits of `captioner objects --seed 0`,
made in memory (objects.split_scene) from the Tux Paint stamps that `scripts/setup.sh --test`
fetches into .cache/tuxpaint; heldout scenes show object pairs or object-background combinations
that never appear together in training. Issue 10's bars: every object named (its name, a synonym
or its category word) in at least 80 % of test scenes and 65 % of heldout scenes; for the words
that name an object, at least 40 % of the attention inside its mask on average, and the peak inside
its box at least 80 % of the time. (A name of several words, "garbage truck", is one token: the
model looks for the object once, for the whole name.)
On the real photographs of data/photos the caption names the main object (PHOTO_BAR).
"""

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from captioner.evaluation.evaluate import grounding_report
from captioner.evaluation.photos import photo_report
from captioner.pipeline import Captioner, shipped_models

ROOT = Path(__file__).resolve().parents[2]
TUXPAINT = ROOT / ".cache" / "tuxpaint"
N_SCENES = {"test": 1000, "heldout": 400}  # the whole test split: its bar is close to what the model has
BARS = {
    # measured in memory (two threads): named 0.817, mask 0.628, peak 0.890
    "test": {"objects_named_rate": 0.80, "mass_in_mask": 0.40, "peak_in_box_rate": 0.80},
    # measured: 0.783, 0.627, 0.891
    "heldout": {"objects_named_rate": 0.65, "mass_in_mask": 0.40, "peak_in_box_rate": 0.80},
}
PHOTO_BAR = 0.5  # of the photos whose main object the model was trained on (measured 28 of 42)


@pytest.fixture(scope="module")
def world():
    from captioner.data.objects import World

    if not (TUXPAINT / "usr/share/tuxpaint/stamps").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{TUXPAINT} is missing: scripts/setup.sh --test fetches it (scripts/fetch_tuxpaint.sh)")
        pytest.skip(f"no Tux Paint stamps in {TUXPAINT} (bash scripts/fetch_tuxpaint.sh)")
    return World(TUXPAINT)


@pytest.fixture(scope="module")
def captioner(one_torch_thread):
    assert "objects" in shipped_models()
    # The decoder's own words: these are issue 10's bars for the model on its own world. Naming from
    # where it looked (on by default) is held to its own bars in tests/recognition; on these scenes it
    # costs about 4 points of objects named (docs/naming.md).
    return Captioner.from_pretrained(device="cpu", naming=False)  # the default model


def test_the_default_model_is_the_objects_model(captioner):
    assert "Tux Paint" in captioner.config.trained_on
    assert captioner.config.feature_levels == (3, 5)


@pytest.mark.parametrize("split", ["test", "heldout"])
def test_default_model_meets_the_quality_bars(captioner, world, split):
    from captioner.data.objects import split_scene

    scenes = [split_scene(world, split, i, seed=0) for i in range(N_SCENES[split])]
    results = captioner.caption([s.image for s in scenes], beam_size=3)
    records = [SimpleNamespace(objects=[o.to_json() for o in s.objects], dataset="objects") for s in scenes]
    report = grounding_report(records, results, [s.image.size for s in scenes])
    measured = {"objects_named_rate": report["objects_named_rate"], **report["attention"]}
    assert measured["mask_count"] > N_SCENES[split]  # the maps of hundreds of object words were scored
    short = {k: round(measured[k], 3) for k, bar in BARS[split].items() if measured[k] < bar}
    assert not short, f"{split}: below the bars {BARS[split]}: {short} (all: {measured})"


def test_captions_of_real_photographs_name_their_main_object(captioner):
    report = photo_report(captioner, ROOT / "data" / "photos", beam_size=3)
    assert report["n_photos"] >= 40
    assert report["known_named_rate"] >= PHOTO_BAR, [(p["file"], p["caption"]) for p in report["photos"] if not p["named"]]
