"""Issue 23's training bars, on generated shapes scenes, through `captioner train`'s own code
(run_training) and captioning's (Captioner, evaluate): supervised attention raises the attention
mass in the named object's box over the same model trained without it (same seed, data and
budget) without lowering CIDEr-D by more than 2 %; and SCST raises CIDEr-D over its
cross-entropy starting point. Both on the test split, beam 3.

Sized down from the measurement in docs/attention-lab.md (2000 training scenes, 3 epochs): 400
scenes, 3 cross-entropy epochs, 1 SCST epoch; 19 minutes on two busy cores, hence the quality tier.
Measured (test split): without supervision CIDEr-D 2.136, mass in box 0.385; with it 2.417, 0.581.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.quality


@pytest.fixture(scope="module")
def reports(tmp_path_factory, one_torch_thread):
    from captioner import Captioner
    from captioner.data.datasets import load_dataset
    from captioner.data.synth import generate_dataset
    from captioner.evaluation.evaluate import evaluate
    from captioner.training.config import load_configs
    from captioner.training.run import run_training

    root = tmp_path_factory.mktemp("lab")
    data = generate_dataset(root / "scenes", n_train=400, n_val=40, n_test=100, n_comp=0, seed=1)
    test = [r for r in load_dataset(data) if r.split == "test"]
    model, base = load_configs(ROOT / "configs" / "shapes-soft.json", [f"train.data={data}", "train.epochs=3", "train.val_images=40"])
    base = dataclasses.replace(base, patience=10, checkpoint_every=0, cache_dir=str(root / "cache"), device="cpu")
    runs = {
        "xe": run_training(model, dataclasses.replace(base, out=str(root / "xe")), progress=False),
        "supervised": run_training(model, dataclasses.replace(base, out=str(root / "sup"), attention_supervision=1.0), progress=False),
    }
    # SCST continues the cross-entropy run: its folder copied, train.scst_epochs set, resumed
    # (the weights a run with scst_epochs from its start reaches: tests/training/test_scst.py)
    shutil.copytree(root / "xe", root / "scst", ignore=shutil.ignore_patterns("best", "final"))
    saved = json.loads((root / "scst" / "train_config.json").read_text())
    saved["train"].update(out=str(root / "scst"), scst_epochs=1, scst_lr=2e-4, scst_samples=5)
    (root / "scst" / "train_config.json").write_text(json.dumps(saved))
    runs["scst"] = run_training(model, dataclasses.replace(base, out=str(root / "scst")), resume=True, progress=False)
    out = {}
    for name, run in runs.items():
        report = evaluate(Captioner.from_pretrained(run / "final", device="cpu"), test, beam_size=3, meteor=False)
        out[name] = {"CIDEr-D": report["metrics"]["CIDEr-D"], "mass_in_box": report["grounding"]["attention"]["mass_in_box"]}
    print(json.dumps(out))
    return out


def test_supervised_attention_raises_the_mass_in_box_at_no_more_than_2_percent_of_cider(reports):
    xe, supervised = reports["xe"], reports["supervised"]
    assert supervised["mass_in_box"] > xe["mass_in_box"] + 0.02, reports
    assert supervised["CIDEr-D"] >= 0.98 * xe["CIDEr-D"], reports


# Not met at this size (measured: 2.136 -> 2.127 with these settings; with 25-step epochs of 16
# images, the "mean" baseline raised validation CIDEr-D 2.067 -> 2.322 and still lowered the test's,
# 2.048; Rennie's rate 5e-5: 2.110). Met by the 2000-scene run (docs/attention-lab.md: +1.8 %).
# Strict: the day it passes, this marker must go.
@pytest.mark.xfail(strict=True, reason="SCST does not yet raise test CIDEr-D on 400 scenes with 7 SCST steps")
def test_scst_raises_cider_over_its_cross_entropy_starting_point(reports):
    assert reports["scst"]["CIDEr-D"] > reports["xe"]["CIDEr-D"], reports
