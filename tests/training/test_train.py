import json

import numpy as np
import pytest
import torch
from PIL import Image

from captioner.model.decoder import Decoder, HardSampling
from captioner.runtime.decoding_step import ReferenceStep
from captioner.training.config import TrainConfig
from captioner.training.loop import caption_loss, hard_sampling, train_decoder
from captioner.vocab import Vocabulary, pad_captions
from tests.conftest import small_decoder_config

V = 10


class _Model(torch.nn.Module):
    """CaptionModel without its encoder: training runs on annotations."""

    def __init__(self, **kw):
        super().__init__()
        self.decoder = Decoder(small_decoder_config(V, **kw))

    def forward(self, features, captions, **kwargs):
        return self.decoder(features, captions, **kwargs)


def _task(n=48, seed=0):
    """Each image holds one object (a distinct feature pattern per class) at a random grid cell;
    its caption names the class."""
    rng = np.random.default_rng(seed)
    feats = rng.normal(0, 0.1, size=(n, 12, 16)).astype(np.float16)
    pairs = []
    for i in range(n):
        cls = i % 3
        feats[i, rng.integers(12), cls * 5 : cls * 5 + 5] += 3.0
        words = [4 + cls, 7 + cls, 4 + cls]
        pairs.append((i, [Vocabulary.start_id] + words + [Vocabulary.end_id]))
    return feats, pairs


HARD_LEVERS = {
    "moving average": {},
    "gumbel": {"hard_estimator": "gumbel"},
    "leave-one-out, by batch, scaled, annealed": {
        "hard_samples": 3,
        "hard_expected_per": "batch",
        "reinforce_scale": 0.1,
        "hard_expected_anneal": True,
    },
}


@pytest.mark.parametrize("hard, levers", [(False, {})] + [(True, levers) for levers in HARD_LEVERS.values()], ids=["soft", *HARD_LEVERS])
def test_training_learns_an_image_dependent_caption(hard, levers):
    torch.manual_seed(0)
    model = _Model(hard_attention=hard)
    feats, pairs = _task()
    config = TrainConfig(epochs=25, batch_size=16, lr=1e-2, doubly_stochastic=0.0, **levers)
    history = train_decoder(model, feats, pairs, config, progress=False).history
    assert history[-1]["ce"] < 0.25 * history[0]["ce"]
    if hard:
        reinforce = config.hard_estimator == "reinforce"
        assert ("reinforce" in history[-1]) == reinforce
        assert ("baseline" in history[-1]) == (reinforce and config.hard_samples == 1)
    from captioner.decoding.search import greedy_decode

    hyps = greedy_decode(ReferenceStep(model.decoder), torch.from_numpy(feats[:3].astype(np.float32)), max_len=5)
    assert [hyps.tokens[i, 0, :3].tolist() for i in range(3)] == [[4, 7, 4], [5, 8, 5], [6, 9, 6]]


def test_doubly_stochastic_penalty_matches_the_formula():
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(V))
    feats = torch.randn(2, 12, 16)
    captions = pad_captions([[1, 4, 5, 2], [1, 6, 2]])
    out = dec(feats, captions)
    loss, logs, _ = caption_loss(out, captions[:, 1:], TrainConfig(doubly_stochastic=1.0), None)
    mass0 = out.alphas[0, :3].sum(0)  # 3 real targets
    mass1 = out.alphas[1, :2].sum(0)  # 2 real targets, then padding (ignored)
    expected = (((1 - mass0) ** 2).sum() + ((1 - mass1) ** 2).sum()) / 2
    assert logs["attention_penalty"] == pytest.approx(expected.item(), rel=1e-5)
    # Balanced as in the paper: the penalty per caption against the summed word losses (5 words in 2 captions).
    assert loss.item() == pytest.approx(logs["ce"] + expected.item() / 2.5, rel=1e-5)


def test_leave_one_out_baseline_and_the_scaled_learning_signal():
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(V, hard_attention=True)).train()
    K = 3
    feats = torch.randn(2, 12, 16).repeat_interleave(K, 0)
    captions = pad_captions([[1, 4, 5, 2], [1, 6, 2]]).repeat_interleave(K, 0)
    out = dec(feats, captions, HardSampling(expected_prob=0.0))
    config = TrainConfig(doubly_stochastic=0.0, hard_samples=K, reinforce_scale=0.1)
    loss, logs, baseline = caption_loss(out, captions[:, 1:], config, baseline=None)
    mask = captions[:, 1:] != 0
    cost = (torch.nn.functional.cross_entropy(out.logits.transpose(1, 2), captions[:, 1:], reduction="none") * mask).sum(1).detach()
    others = torch.stack([(cost.view(2, K).sum(1) - cost.view(2, K)[:, k]) / (K - 1) for k in range(K)], dim=1).view(-1)
    expected = 0.1 * ((cost - others) * (out.sample_log_probs * mask).sum(1)).mean()
    assert logs["reinforce"] == pytest.approx(expected.item(), rel=1e-5)
    assert baseline is None and "baseline" not in logs  # no moving average kept


def test_hard_sampling_settings_annealed_and_drawn_by_batch():
    config = TrainConfig(hard_expected_prob=0.5, hard_expected_anneal=True)
    assert [config.hard_sampling(p).expected_prob for p in (0.0, 0.5, 1.0)] == [0.5, 0.25, 0.0]
    assert TrainConfig(hard_expected_prob=0.5).hard_sampling(0.9).expected_prob == 0.5
    torch.manual_seed(0)
    draws = [hard_sampling(TrainConfig(hard_expected_per="batch"), 0.3).expected_prob for _ in range(400)]
    assert set(draws) == {0.0, 1.0} and 0.4 < sum(draws) / len(draws) < 0.6  # the whole batch, half the time
    for bad, name in (
        (dict(hard_expected_per="caption"), "hard_expected_per"),
        (dict(hard_samples=0), "hard_samples"),
        (dict(hard_estimator="gumble"), "estimator"),
        (dict(hard_expected_prob=2.0), "probability"),
    ):
        with pytest.raises(ValueError, match=name):
            TrainConfig(**bad)


def test_training_is_reproducible_with_a_seed():
    feats, pairs = _task(n=24)
    runs = []
    for _ in range(2):
        torch.manual_seed(1)
        model = _Model()
        train_decoder(model, feats, pairs, TrainConfig(epochs=2, batch_size=8, seed=5), progress=False)
        runs.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(runs[0], runs[1])


# -- whole runs on a tiny generated data set ---------------------------------------------------


@pytest.fixture(scope="module")
def tiny_synth(tmp_path_factory):
    from captioner.data.synth import generate_dataset

    return generate_dataset(tmp_path_factory.mktemp("synth"), n_train=16, n_val=4, n_test=4, n_comp=2, seed=3, image_size=64)


def _configs(data, out, **train):
    from captioner import ModelConfig
    from captioner.training.config import TrainConfig

    model = ModelConfig(image_size=64, embed_dim=16, hidden_dim=24, attention_dim=16, dropout=0.3, max_len=8)
    base = dict(data=str(data), out=str(out), epochs=2, batch_size=16, lr=3e-3, min_word_freq=1, checkpoint_every=3, seed=11, device="cpu")
    base.update(train)
    return model, TrainConfig(**base)


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_run_writes_models_metrics_and_checkpoints(tiny_synth, tmp_path):
    from captioner import Captioner
    from captioner.training.run import run_training

    run = run_training(*_configs(tiny_synth, tmp_path / "run"), progress=False)
    lines = [json.loads(text) for text in (run / "metrics.jsonl").read_text().splitlines()]
    assert [record["epoch"] for record in lines] == [1, 2]
    assert "CIDEr-D" in lines[0]["val"]  # validation decodes and scores for real
    # on grounded scenes each epoch also measures naming and attention correctness
    grounding = lines[0]["val"]["grounding"]
    assert 0.0 <= grounding["objects_named_rate"] <= 1.0 and "peak_in_box_rate" in grounding["attention"]
    with Image.open(run / "curves.png") as curves:  # the learning curves, drawn at each epoch's end
        assert curves.format == "PNG" and curves.width > 600
    assert (run / "latest").read_text().startswith("checkpoint-")
    assert len(list(run.glob("checkpoint-*"))) <= 2  # older checkpoints pruned
    assert not list(run.glob("*.tmp"))
    cap = Captioner.from_pretrained(run / "best", device="cpu")
    assert "tiny" not in cap.config.trained_on and "16 training images" in cap.config.trained_on
    saved = json.loads((run / "train_config.json").read_text())
    assert saved["train"]["epochs"] == 2 and saved["model"]["hidden_dim"] == 24


@pytest.mark.parametrize(
    "hard, finetune, train", [(False, 0, {}), (True, 0, {}), (True, 0, {"hard_expected_per": "batch", "hard_samples": 2}), (False, 1, {})]
)
def test_resume_reaches_the_same_weights(tiny_synth, tmp_path, hard, finetune, train):
    from captioner.training.run import run_training

    model, config = _configs(tiny_synth, tmp_path / "full", **train)
    model.hard_attention, model.finetune_blocks = hard, finetune
    full = run_training(model, config, progress=False)
    # 16 images x 5 captions = 80 pairs = 5 steps an epoch; checkpoints at steps 3, 5, 6, 9, 10.
    model2, config2 = _configs(tiny_synth, tmp_path / "cut", **train)
    model2.hard_attention, model2.finetune_blocks = hard, finetune
    run_training(model2, config2, progress=False, stop_after_steps=7)  # "killed" after step 7
    assert (tmp_path / "cut" / "latest").read_text() == "checkpoint-00000006"
    assert not (tmp_path / "cut" / "final").exists()
    resumed = run_training(model2, config2, resume=True, progress=False)
    a, b = _weights(full / "final"), _weights(resumed / "final")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    lines = [json.loads(text) for text in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert [record["epoch"] for record in lines] == [1, 2]


def test_fine_tuning_trains_the_last_blocks_and_a_frozen_encoder_stays_as_it_was(tiny_synth, tmp_path):
    from captioner import Captioner
    from captioner.model.encoder import bundled_lite0_state_dict
    from captioner.training.run import run_training

    imagenet = bundled_lite0_state_dict()
    model, config = _configs(tiny_synth, tmp_path / "tuned", epochs=1, encoder_lr=1e-3)
    model.finetune_blocks = 2  # blocks.6.0 and blocks.5.3 (the default levels end at blocks.6)
    tuned = run_training(model, config, progress=False)
    saved = {k.removeprefix("encoder.backbone."): v for k, v in _weights(tuned / "final").items() if k.startswith("encoder.")}
    assert saved, "a fine-tuned model carries its encoder"
    changed = {k for k, v in saved.items() if not torch.equal(v, imagenet[k])}
    assert changed and all(k.startswith(("blocks.6.0.", "blocks.5.3.")) for k in changed), changed
    assert not any(k.endswith(("running_mean", "running_var")) for k in changed)  # batch-norm statistics stay frozen

    cap = Captioner.from_pretrained(tuned / "final", device="cpu")
    again = Captioner.from_pretrained(cap.save_pretrained(tmp_path / "again"), device="cpu")
    images = [tiny_synth.parent / "images" / name for name in sorted(p.name for p in (tiny_synth.parent / "images").iterdir())[:4]]
    assert [r.text for r in cap.caption(images)] == [r.text for r in again.caption(images)]

    frozen = run_training(*_configs(tiny_synth, tmp_path / "frozen", epochs=1), progress=False)
    assert not any(k.startswith("encoder.") for k in _weights(frozen / "final"))  # rebuilt from ImageNet's weights
    rebuilt = Captioner.from_pretrained(frozen / "final", device="cpu").model.encoder.backbone.state_dict()
    assert all(torch.equal(v, imagenet[k]) for k, v in rebuilt.items())


def test_existing_run_needs_resume(tiny_synth, tmp_path):
    from captioner.training.run import run_training

    run_training(*_configs(tiny_synth, tmp_path / "run", epochs=1), progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        run_training(*_configs(tiny_synth, tmp_path / "run", epochs=1), progress=False)


def test_feature_cache_is_reused(tiny_synth, tmp_path, monkeypatch):
    from captioner import Captioner
    from captioner.images import stream
    from captioner.training import features
    from captioner.training.run import run_training

    run = run_training(*_configs(tiny_synth, tmp_path / "run", epochs=1), progress=False)
    cached = sorted((run / "cache").glob("features-*.npy"))
    assert len(cached) == 2  # train and val
    # Reopening the cache reads no image and runs no encoder.
    monkeypatch.setattr(stream, "load_image_and_size", lambda *a, **k: pytest.fail("an image was read"))
    cap = Captioner.from_pretrained(run / "best", device="cpu")
    n = np.load(cached[0], mmap_mode="r").shape[0]
    out = features.extract_features(cap.model, [f"img{i}.png" for i in range(n)], cached[0])
    assert isinstance(out, np.memmap) and out.shape[0] == n


def test_training_takes_the_same_steps_with_and_without_its_speed_ups():
    # TrainConfig.speedups (on by default) runs training/fast_decoder.py; off, the decoder's plain
    # forward, the paper as written. The same seed and data give the same model, to float rounding.
    from captioner.training.config import load_configs

    assert load_configs(None, ["train.speedups=false"])[1].speedups is False  # --set train.speedups=false
    feats, pairs = _task(n=24)
    models = []
    for speedups in (True, False):
        torch.manual_seed(1)
        model = _Model()
        state = train_decoder(model, feats, pairs, TrainConfig(epochs=2, batch_size=8, seed=5, speedups=speedups), progress=False)
        models.append((model, state.history[-1]["ce"]))
    (fast, fast_ce), (plain, plain_ce) = models
    assert fast_ce == pytest.approx(plain_ce, rel=1e-4)
    for (name, a), b in zip(fast.named_parameters(), plain.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)


def test_load_configs_file_and_overrides(tmp_path):
    from captioner.training.config import load_configs

    path = tmp_path / "c.json"
    path.write_text(json.dumps({"model": {"hidden_dim": 64, "feature_levels": [3]}, "train": {"epochs": 3}}))
    model, train = load_configs(path, ["train.lr=0.01", "model.attention=dot", "train.data=some/path.json"])
    assert (model.hidden_dim, model.feature_levels, model.attention) == (64, (3,), "dot")
    assert (train.epochs, train.lr, train.data) == (3, 0.01, "some/path.json")
    with pytest.raises(ValueError, match="unknown train settings"):
        load_configs(None, ["train.epoch=3"])
    with pytest.raises(ValueError, match="must look like"):
        load_configs(None, ["epochs=3"])


@pytest.mark.parametrize("finetune", [0, 1])
def test_torchrun_two_cpu_processes(tiny_synth, tmp_path, finetune):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "captioner",
        "train",
        "--data",
        str(tiny_synth),
        "--out",
        str(tmp_path / "ddp"),
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--device",
        "cpu",
        "--set",
        "model.image_size=64",
        "--set",
        "model.hidden_dim=16",
        "--set",
        "model.embed_dim=16",
        "--set",
        "model.attention_dim=16",
        "--set",
        "train.min_word_freq=1",
        "--set",
        f"model.finetune_blocks={finetune}",
    ]
    env = dict(os.environ, PYTHONPATH=str(root), OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(text) for text in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert [record["epoch"] for record in lines] == [1, 2]  # logged once, by rank 0
    # 80 pairs, 8 per process per step -> 5 steps an epoch, 10 in all.
    assert (tmp_path / "ddp" / "latest").read_text() == "checkpoint-00000010"
    assert (tmp_path / "ddp" / "best" / "model.safetensors").is_file()
    # fine-tuning: the processes trained the encoder's last block together (gradients averaged by DDP)
    assert any(k.startswith("encoder.") for k in _weights(tmp_path / "ddp" / "final")) == bool(finetune)


def test_a_non_finite_loss_stops_training_with_a_clear_error():
    from captioner.training.loop import NonFiniteLossError

    torch.manual_seed(0)
    model = _Model()
    feats, pairs = _task(n=32)
    feats[5] = np.nan  # one poisoned image: the batch that holds it has a NaN loss
    saved = []
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at epoch 1, step \d+"):
        train_decoder(
            model,
            feats,
            pairs,
            TrainConfig(epochs=2, batch_size=8, checkpoint_every=1),
            progress=False,
            on_checkpoint=lambda st, *_: saved.append(st.global_step),
        )
    assert all(torch.isfinite(p).all() for p in model.parameters())  # the bad step never reached the weights


# -- damaged runs (issue 12) --------------------------------------------------------------------


@pytest.fixture(scope="module")
def cut_run(tiny_synth, tmp_path_factory):
    """A run killed after step 7: checkpoints at steps 5 and 6."""
    from captioner.training.run import run_training

    run = tmp_path_factory.mktemp("cut") / "run"
    run_training(*_configs(tiny_synth, run), progress=False, stop_after_steps=7)
    assert sorted(p.name for p in run.glob("checkpoint-*")) == ["checkpoint-00000005", "checkpoint-00000006"]
    return run


def _damaged(cut_run, tmp_path, damage):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(cut_run, run)
    damage(run, run / "checkpoint-00000006")
    return run


@pytest.mark.parametrize(
    "damage, file",
    [
        (
            lambda run, ckpt: (ckpt / "trainer.safetensors").write_bytes((ckpt / "trainer.safetensors").read_bytes()[:500]),
            "trainer.safetensors",
        ),
        (lambda run, ckpt: (ckpt / "trainer.json").write_text('{"state": {"epoch": 1, '), "trainer.json"),
        (
            lambda run, ckpt: (ckpt / "trainer.json").write_text(
                (ckpt / "trainer.json").read_text().replace('"global_step": 6', '"global_step": -6')
            ),
            "trainer.json",
        ),
        (
            lambda run, ckpt: (ckpt / "trainer.json").write_text(
                (ckpt / "trainer.json").read_text().replace('"epoch": 1', '"epoch": "one"')
            ),
            "trainer.json",
        ),
        (lambda run, ckpt: (ckpt / "model.safetensors").write_bytes(b"\0" * 100), "model.safetensors"),
    ],
)
def test_a_damaged_checkpoint_is_named_and_the_previous_one_used(cut_run, tmp_path, damage, file):
    from captioner.training.checkpoints import load_checkpoint

    run = _damaged(cut_run, tmp_path, damage)
    with pytest.warns(UserWarning, match=f"checkpoint-00000006.*{file}.*checkpoint-00000005"):
        _, _, state, _ = load_checkpoint(run, "cpu")
    assert state.global_step == 5


def test_no_usable_checkpoint_is_a_checkpoint_error_naming_the_files(cut_run, tmp_path):
    from captioner import CheckpointError
    from captioner.training.checkpoints import load_checkpoint

    def damage(run, ckpt):
        for folder in run.glob("checkpoint-*"):
            (folder / "trainer.json").write_text("garbled")

    run = _damaged(cut_run, tmp_path, damage)
    with pytest.raises(CheckpointError, match="checkpoint-00000006/trainer.json.*checkpoint-00000005/trainer.json"):
        load_checkpoint(run, "cpu")


@pytest.mark.parametrize("pointer", ["../elsewhere", "/etc", "checkpoint-00000006/../../x", ""])
def test_latest_never_points_outside_the_run_folder(cut_run, tmp_path, pointer):
    from captioner import CheckpointError
    from captioner.training.checkpoints import load_checkpoint

    (tmp_path / "elsewhere").mkdir()
    run = _damaged(cut_run, tmp_path, lambda run, ckpt: (run / "latest").write_text(pointer))
    with pytest.raises(CheckpointError, match="latest. names .* not a checkpoint of this run"):
        load_checkpoint(run, "cpu")


def test_a_truncated_feature_cache_is_named_and_computed_again(small_captioner, photos, tmp_path):
    from captioner.training.features import extract_features

    images = []
    for name in ("coffee", "chelsea"):
        photos[name].resize((64, 48)).save(tmp_path / f"{name}.png")
        images.append(tmp_path / f"{name}.png")
    cache = tmp_path / "features.npy"
    good = np.array(extract_features(small_captioner.model, images, cache))
    cache.write_bytes(cache.read_bytes()[:1000])
    with pytest.warns(UserWarning, match="features.npy"):
        again = extract_features(small_captioner.model, images, cache)
    assert np.array_equal(np.asarray(again), good)


def test_train_resume_of_an_unusable_run_is_a_usage_error(cut_run, tmp_path, capsys):
    from captioner.cli.main import main

    run = _damaged(cut_run, tmp_path, lambda run, ckpt: (run / "train_config.json").write_text("{garbled"))
    assert main(["train", "--out", str(run), "--resume"]) == 2
    assert "train_config.json" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "nothing-here"), "--resume"]) == 2


def test_an_epoch_prints_one_short_line_and_the_record_stays_in_metrics_jsonl(tmp_path):
    from captioner.training.run import epoch_line

    record = {
        "ce": 1.2346,
        "epoch": 1,
        "seconds": 61.7,
        "pairs_per_s": 120.0,
        "val": {
            "BLEU-1": 0.7,
            "BLEU-4": 0.3456,
            "ROUGE-L": 0.5,
            "CIDEr-D": 1.942,
            "grounding": {
                "objects_named_rate": 0.24,
                "attention": {"count": 80, "mass_in_box": 0.381, "baseline": 0.06, "peak_in_box_rate": 0.59},
                "attention_by_word": {"shape": {"count": 40}},
            },
        },
    }
    line = epoch_line(record, 4, tmp_path / "metrics.jsonl")
    assert line.startswith(
        "epoch 1/4 · loss 1.235 · val CIDEr-D 1.942, BLEU-4 0.346 · objects named 24% · "
        "attention in the named object's box 38% (uniform 6%), peak inside 59% · 62 s"
    )
    assert str(tmp_path / "metrics.jsonl") in line and "{" not in line
    assert "metrics.jsonl" not in epoch_line({**record, "epoch": 2}, 4, tmp_path / "metrics.jsonl")  # said once
    assert epoch_line({"ce": 2.0, "epoch": 3}, 3) == "epoch 3/3 · loss 2.000"  # no validation data


def test_validation_decodes_as_captioning_does_and_keeps_the_models_mode(small_captioner):
    from captioner.training.run import decode_features

    model, config = small_captioner.model, small_captioner.config
    torch.manual_seed(3)
    features = torch.randn(3, config.grid_size[0] * config.grid_size[1], config.feature_dim)
    model.train()
    try:
        results = decode_features(model, small_captioner.vocab, features.numpy(), batch_size=2)
        assert model.training
    finally:
        model.eval()
    expected = small_captioner.decode(features, beam_size=1)
    assert [r.text for r in results] == [r.text for r in expected] and all(r.words for r in results)
    assert all(np.allclose(r.attention, e.attention, atol=1e-5) for r, e in zip(results, expected))  # batches of 2, not 3
