"""Self-critical sequence training: CIDEr-D through pycocoevalcap, sampling through the model's
step, both baselines, and the reward rising on a tiny task."""

import json

import numpy as np
import pytest
import torch

from captioner.decoding.search import greedy_decode
from captioner.model.decoder import Decoder
from captioner.runtime.decoding_step import ReferenceStep
from captioner.training.scst import cider_d, sample_captions, self_critical_step
from captioner.vocab import SPECIALS, Vocabulary
from tests.conftest import LAB_VARIANTS, small_decoder_config

VOCAB = Vocabulary([*SPECIALS, *"red blue green circle square triangle big small".split()])
# Four images, two references each.
REFERENCES = [
    [["red", "circle"], ["big", "red", "circle"]],
    [["blue", "square"], ["big", "blue", "square"]],
    [["green", "triangle"], ["small", "green", "triangle"]],
    [["big", "red", "square"], ["red", "square"]],
]


def test_cider_d_is_coco_captions_scorer():
    from pycocoevalcap.cider.cider import Cider

    captions = [["red", "circle"], ["blue", "blue"], [], ["big", "red", "square"]]
    scores = cider_d(captions, REFERENCES)
    gts = {i: [" ".join(r) for r in refs] for i, refs in enumerate(REFERENCES)}
    expected = Cider().compute_score(gts, {i: [" ".join(c)] for i, c in enumerate(captions)})[1]
    np.testing.assert_allclose(scores, expected)
    assert scores[0] > scores[1] and scores[2] == 0.0
    with pytest.raises(ValueError, match="reference"):
        cider_d([["red"]], [[]])


def test_samples_are_drawn_from_the_models_distribution():
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(len(VOCAB), max_len=1)).eval()
    feats = torch.randn(1, 12, 16).expand(3000, -1, -1)
    sampled = sample_captions(dec, feats, max_len=1, generator=torch.Generator().manual_seed(0))
    probs = torch.softmax(dec.step(torch.full((1,), 1), dec.init_state(feats[:1]), feats[:1], dec.attention.keys(feats[:1])).logits, -1)[0]
    probs[: Vocabulary.end_id] = 0  # never <pad> or <start>
    frequency = torch.bincount(sampled.tokens[:, 0], minlength=len(VOCAB)).float() / 3000
    torch.testing.assert_close(frequency, probs / probs.sum(), atol=0.03, rtol=0)
    torch.testing.assert_close(sampled.log_probs[:, 0], torch.log(probs / probs.sum())[sampled.tokens[:, 0]])
    assert sampled.log_probs.requires_grad


@pytest.mark.parametrize("baseline, samples, variant", [("greedy", 4, None), ("samples", 4, None), ("greedy", 4, "all")])
def test_the_reward_rises_on_a_tiny_task(baseline, samples, variant, one_torch_thread):
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(len(VOCAB), max_len=5, **LAB_VARIANTS.get(variant, {}))).train()
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(4, 12, 16, generator=g)

    def greedy_reward():
        dec.eval()
        hyps = greedy_decode(ReferenceStep(dec), feats)
        dec.train()
        return cider_d([VOCAB.decode(row) for row in hyps.tokens[:, 0].tolist()], REFERENCES).mean()

    before = greedy_reward()
    optimizer = torch.optim.Adam(dec.parameters(), lr=1e-2)
    stats = [self_critical_step(dec, optimizer, feats, REFERENCES, VOCAB, baseline, samples, generator=g) for _ in range(60)]
    after = greedy_reward()
    assert after > before + 0.5, (before, after)
    assert np.mean([s.sample_reward for s in stats[-10:]]) > np.mean([s.sample_reward for s in stats[:10]]) + 0.3


def test_bad_settings_are_refused():
    dec = Decoder(small_decoder_config(len(VOCAB)))
    optimizer = torch.optim.SGD(dec.parameters(), lr=0.1)
    feats = torch.randn(4, 12, 16)
    for kwargs, message in (
        (dict(baseline="mean"), "baseline"),
        (dict(baseline="samples", samples=1), "samples"),
        (dict(samples=0), "samples"),
    ):
        with pytest.raises(ValueError, match=message):
            self_critical_step(dec, optimizer, feats, REFERENCES, VOCAB, **kwargs)
    with pytest.raises(ValueError, match="references for each"):
        self_critical_step(dec, optimizer, feats, REFERENCES[:2], VOCAB)


# -- SCST in `captioner train` (TrainConfig.scst_*, training.run) ------------------------------


def test_the_scst_settings_are_read_and_checked():
    from captioner.training.config import load_configs

    train = load_configs(None, ["train.scst_epochs=2", "train.scst_baseline=mean", "train.scst_samples=3"])[1]
    assert (train.scst_epochs, train.scst_baseline, train.scst_samples) == (2, "mean", 3)
    assert load_configs(None, [])[1].scst_epochs == 0  # off by default
    for bad, name in (
        ("train.scst_epochs=-1", "scst_epochs"),
        ("train.scst_epochs=1.5", "scst_epochs"),
        ("train.scst_baseline=samples", "scst_baseline"),
        ("train.scst_samples=0", "scst_samples"),
        ("train.scst_lr=0", "scst_lr"),
    ):
        with pytest.raises(ValueError, match=f"train.{name}"):
            load_configs(None, [bad])
    with pytest.raises(ValueError, match="train.scst_samples must be >= 2 for the 'mean' baseline"):
        load_configs(None, ["train.scst_baseline=mean", "train.scst_samples=1"])


def _scst_configs(data, out, **train):
    from tests.training.test_train import _configs

    # 12 training images x 5 captions at batch 8: 8 cross-entropy steps an epoch, then 2 SCST steps an epoch
    base = dict(epochs=1, scst_epochs=2, scst_samples=2, scst_lr=1e-3, batch_size=8, checkpoint_every=3, val_images=2, patience=5)
    return _configs(data, out, **{**base, **train})


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    from captioner.data.synth import generate_dataset

    return generate_dataset(tmp_path_factory.mktemp("synth"), n_train=12, n_val=2, n_test=2, n_comp=0, seed=4, image_size=64)


@pytest.mark.integration
@pytest.mark.parametrize("baseline", ["greedy", "mean"])
def test_captioner_train_runs_scst_after_the_cross_entropy_epochs(scenes, tmp_path, baseline):
    from captioner.cli.main import main

    run = tmp_path / "run"
    settings = ["model.image_size=64", "model.hidden_dim=16", "model.embed_dim=16", "model.attention_dim=16", "train.min_word_freq=1"]
    settings += ["train.scst_epochs=1", f"train.scst_baseline={baseline}", "train.scst_samples=2", "train.val_images=2"]
    argv = ["train", "--data", str(scenes), "--out", str(run), "--epochs", "1", "--device", "cpu", "--batch-size", "8"]
    assert main(argv + [arg for s in settings for arg in ("--set", s)]) == 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [(r["epoch"], r.get("phase")) for r in records] == [(1, None), (2, "scst")]
    assert "ce" in records[0] and {"scst_reward", "scst_baseline", "scst_loss"} <= records[1].keys()
    assert "CIDEr-D" in records[1]["val"] and (run / "final" / "model.safetensors").exists()
    state = json.loads((run / (run / "latest").read_text() / "trainer.json").read_text())["state"]
    assert (state["phase"], state["epoch"], state["global_step"]) == ("scst", 2, 8 + 2)


@pytest.mark.integration
@pytest.mark.parametrize("cut", [8, 9], ids=["at the switch", "inside an SCST epoch"])
def test_resume_across_the_switch_to_scst_reaches_the_same_weights(scenes, tmp_path, cut):
    from safetensors.torch import load_file

    from captioner.training.run import run_training

    full = run_training(*_scst_configs(scenes, tmp_path / "full"), progress=False)
    model, config = _scst_configs(scenes, tmp_path / "cut")
    run_training(model, config, progress=False, stop_after_steps=cut)  # "killed" after that step
    assert (tmp_path / "cut" / "latest").read_text() == f"checkpoint-{cut:08d}" and not (tmp_path / "cut" / "final").exists()
    cross_entropy_end = load_file(str(tmp_path / "cut" / "checkpoint-00000008" / "model.safetensors"))
    resumed = run_training(model, config, resume=True, progress=False)
    a, b = load_file(str(full / "final" / "model.safetensors")), load_file(str(resumed / "final" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(cross_entropy_end[k], a[k]) for k in a)  # SCST changed the weights
    phases = [json.loads(line).get("phase", "xe") for line in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert phases == ["xe", "scst", "scst"]


def test_scst_under_torchrun_is_refused_in_one_line(monkeypatch, tmp_path, capsys):
    from captioner.cli.main import main

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert main(["train", "--data", str(tmp_path / "any.json"), "--out", str(tmp_path / "run"), "--set", "train.scst_epochs=1"]) == 2
    assert capsys.readouterr().err.strip() == (
        "captioner train: error: train.scst_epochs: self-critical training runs in one process, not under torchrun"
    )
