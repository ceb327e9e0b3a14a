"""Issue 23's supervised-attention bar, on generated shapes scenes, through `captioner train`'s own
code (run_training) and captioning's (Captioner, evaluate): supervised attention raises the
attention mass in the named object's box over the same model trained without it (same seed, data
and budget) without lowering CIDEr-D by more than 2 %, on the test split, beam 3.

Sized down from the measurement in docs/attention-lab.md (2000 training scenes, 3 epochs): 400
scenes, 3 epochs, one torch thread; about 3 minutes on two quiet cores, hence the quality tier.
Measured (test split): without supervision CIDEr-D 2.136, mass in box 0.385; with it 2.417, 0.581.
At 250 scenes the bar is not met (CIDEr-D 1.761 -> 1.726, -2.0 %). SCST's bar is not asserted here:
at this size its change is within noise (one SCST epoch: 2.136 -> 2.127 with one thread, above
2.136 with two); test_scst_bar.py asserts it from the shipped shapes model instead.
"""

from __future__ import annotations

import dataclasses
import json
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
