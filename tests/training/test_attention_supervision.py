import json
from pathlib import Path

import numpy as np
import pytest
import torch

from captioner.data.datasets import CaptionRecord, DatasetError
from captioner.model.decoder import Decoder
from captioner.training.attention_supervision import (
    attention_supervision_loss,
    attention_targets,
    cell_overlaps,
    region_target,
    require_grounding,
)
from captioner.training.config import TrainConfig, load_configs
from captioner.training.fast_decoder import teacher_forcing
from captioner.training.loop import train_decoder
from tests.conftest import LAB_VARIANTS, caption_batch, small_decoder_config

ROOT = Path(__file__).resolve().parents[2]


def test_a_regions_target_is_the_covered_fraction_of_each_cell_normalised():
    # 64 x 32 image on a 2 x 4 grid: cells of 16 x 16 pixels. The box covers cell (0, 0) whole,
    # half of cell (0, 1) and a quarter of cell (1, 0) (8 of its 16 columns, 8 of its rows).
    target = region_target([(0, 0, 24, 16), (0, 16, 8, 24)], (64, 32), (2, 4))
    covered = np.array([256, 128, 0, 0, 64, 0, 0, 0], dtype=np.float64)
    np.testing.assert_allclose(target, covered / covered.sum(), rtol=1e-6)
    # the same region as a mask gives the same target; a fractional edge counts the part it covers
    mask = np.zeros((32, 64), dtype=bool)
    mask[0:16, 0:24] = mask[16:24, 0:8] = True
    np.testing.assert_allclose(region_target([(0, 0, 1, 1)], (64, 32), (2, 4), masks=[mask]), target, rtol=1e-6)
    half = region_target([(0, 0, 16.5, 16)], (64, 32), (2, 4))
    np.testing.assert_allclose(half[:2], np.array([256, 8]) / 264, rtol=1e-6)
    # cells need not align with pixels: each pixel's overlaps sum to 1
    np.testing.assert_allclose(cell_overlaps(10, 3).sum(0), 1.0)
    np.testing.assert_allclose(cell_overlaps(10, 3).sum(1), 10 / 3)
    with pytest.raises(ValueError, match="does not overlap"):
        region_target([(100, 100, 120, 120)], (64, 32), (2, 4))


def _record(groundings, objects, captions=None):
    captions = captions or [["w"] * len(g or [None]) for g in groundings]
    return CaptionRecord(Path("x.png"), captions, "train", 0, objects=objects, groundings=groundings, dataset="synth")


def test_targets_follow_each_captions_grounded_words_in_the_order_of_the_pairs():
    objects = [{"box": [0, 0, 16, 16]}, {"box": [48, 16, 64, 32]}]
    first = _record([[None, 0, 0, None, 1], [None, [0, 1], [0, 1]]], objects)
    second = _record([None, [1, None]], objects)  # a caption without grounding, then one
    built = attention_targets([first, second], [(64, 32), (64, 32)], (2, 4), max_caption_len=4)
    assert len(built.words) == 4  # one entry per (record, caption) pair
    # word 4 of the first caption is cut by max_caption_len; an image's regions are computed once
    assert [[t for t, _ in w] for w in built.words] == [[1, 2], [1, 2], [], [0]]
    assert len(built.targets) == 3  # {0} and {0, 1} for the first image (its word for 1 is cut), {1} for the second
    np.testing.assert_allclose(built.targets[built.words[0][0][1]], [1, 0, 0, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(built.targets[built.words[1][0][1]], [0.5, 0, 0, 0, 0, 0, 0, 0.5])
    rows, positions, targets = built.batch([3, 0], repeats=2)
    assert rows.tolist() == [0, 1, 2, 3, 2, 3] and positions.tolist() == [0, 0, 1, 1, 2, 2]
    assert targets.shape == (6, 8) and built.grounded_words == 5


def test_the_loss_is_the_cross_entropy_from_the_target_to_the_map():
    alphas = torch.tensor([[[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]])
    rows, positions = torch.tensor([0, 0]), torch.tensor([0, 1])
    targets = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]])
    expected = (-np.log(0.5) + -(0.5 * np.log(0.1) + 0.5 * np.log(0.8))) / 2
    assert attention_supervision_loss(alphas, rows, positions, targets).item() == pytest.approx(expected, rel=1e-6)
    empty = attention_supervision_loss(alphas.requires_grad_(), rows[:0], positions[:0], targets[:0])
    assert empty.item() == 0.0
    empty.backward()
    assert not alphas.grad.any()


@pytest.mark.parametrize("overrides", [{}, {"attention": "dot"}, *LAB_VARIANTS.values()], ids=["paper", "dot", *LAB_VARIANTS])
def test_the_same_loss_and_gradients_with_and_without_the_speed_ups(vocab, overrides):
    torch.manual_seed(0)
    decoder = Decoder(small_decoder_config(len(vocab), **overrides)).double().train()
    feats, caps = caption_batch(len(vocab), B=3, T=6, lengths={0: 3, 2: 5})
    feats = feats.double()
    rows, positions = torch.tensor([0, 0, 1, 2, 2]), torch.tensor([0, 2, 5, 1, 4])
    targets = torch.softmax(torch.randn(5, 12, dtype=torch.float64), dim=-1)
    results = []
    for forward in (decoder.forward, lambda f, c: teacher_forcing(decoder, f, c)):
        decoder.zero_grad()
        loss = attention_supervision_loss(forward(feats, caps).alphas, rows, positions, targets)
        loss.backward()
        results.append((loss.detach(), {n: p.grad.clone() for n, p in decoder.named_parameters() if p.grad is not None}))
    (plain, plain_grads), (fast, fast_grads) = results
    torch.testing.assert_close(fast, plain)
    assert fast_grads.keys() == plain_grads.keys() and any(g.abs().sum() > 0 for g in plain_grads.values())
    for name in plain_grads:
        torch.testing.assert_close(fast_grads[name], plain_grads[name], msg=name)


def test_supervision_moves_the_attention_onto_the_named_object():
    # Each image holds its object at a random cell; the caption names it. Trained the same way,
    # the model with supervision puts more of the named word's attention on that cell.
    from captioner.training.attention_supervision import AttentionTargets
    from tests.training.test_train import _Model, _task

    feats, pairs = _task(n=48)
    cells = [int(np.abs(feats[i].astype(np.float32)).sum(1).argmax()) for i in range(len(feats))]
    one_hot = np.eye(12, dtype=np.float32)
    supervised_words = AttentionTargets(one_hot, [[(0, cells[i]), (2, cells[i])] for i, _ in pairs])
    mass = {}
    for weight in (0.0, 1.0):
        torch.manual_seed(0)
        model = _Model()
        config = TrainConfig(epochs=6, batch_size=16, lr=1e-2, doubly_stochastic=0.0, attention_supervision=weight, seed=2)
        state = train_decoder(model, feats, pairs, config, progress=False, attention_targets=supervised_words)
        assert ("attention_supervision" in state.history[-1]) == (weight > 0)
        with torch.no_grad():
            captions = torch.tensor([c for _, c in pairs])
            alphas = model.decoder.eval()(torch.from_numpy(feats.astype(np.float32)), captions).alphas
        mass[weight] = float(alphas[torch.arange(len(cells)), 0, torch.tensor(cells)].mean())
    assert mass[1.0] > mass[0.0] + 0.15, mass  # measured 0.19 without, 0.41 with


def test_the_setting_is_checked_and_needs_grounded_data(tmp_path):
    assert load_configs(None, ["train.attention_supervision=1.0"])[1].attention_supervision == 1.0
    for bad in ("-1", "true", '"much"', "NaN"):
        with pytest.raises(ValueError, match="train.attention_supervision"):
            load_configs(None, [f"train.attention_supervision={bad}"])
    plain = CaptionRecord(Path("x.png"), [["a", "cat"]], "train", 0)
    with pytest.raises(DatasetError, match="data.json: train.attention_supervision needs grounded training data"):
        require_grounding([plain], "data.json")


@pytest.fixture(scope="module")
def tiny_synth(tmp_path_factory):
    from captioner.data.synth import generate_dataset

    return generate_dataset(tmp_path_factory.mktemp("synth"), n_train=12, n_val=3, n_test=2, n_comp=0, seed=5, image_size=64)


TINY_MODEL = ["model.image_size=64", "model.embed_dim=16", "model.hidden_dim=16", "model.attention_dim=16", "train.min_word_freq=1"]


def _train(data, out, *settings) -> int:
    from captioner.cli.main import main

    argv = ["train", "--data", str(data), "--out", str(out), "--epochs", "1", "--device", "cpu"]
    return main(argv + [arg for setting in [*TINY_MODEL, *settings] for arg in ("--set", setting)])


@pytest.mark.integration
def test_captioner_train_with_supervised_attention(tiny_synth, tmp_path):
    assert _train(tiny_synth, tmp_path / "run", "train.attention_supervision=1.0") == 0
    record = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert record["attention_supervision"] > 0
    saved = json.loads((tmp_path / "run" / "train_config.json").read_text())
    assert saved["train"]["attention_supervision"] == 1.0


def test_captioner_train_refuses_supervision_on_data_without_grounding_in_one_line(tiny_synth, tmp_path, capsys):
    data = json.loads(tiny_synth.read_text())
    for image in data["images"]:
        image.pop("objects")
        for sentence in image["sentences"]:
            sentence.pop("grounding")
    plain = tiny_synth.parent / "plain.json"
    plain.write_text(json.dumps(data))
    capsys.readouterr()
    assert _train(plain, tmp_path / "plain", "train.attention_supervision=1.0") == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"captioner train: error: {plain}: train.attention_supervision needs grounded training data (per-word grounding and "
        "object boxes, as `captioner synth` and `captioner objects` write), and this data set has none"
    ]
    assert not (tmp_path / "plain" / "cache").exists()  # refused before any image was encoded
