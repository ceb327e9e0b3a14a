"""The attention lab (captioner/lab.py, `captioner lab`) at a tiny budget: the command line's path
end to end, rows a build cannot train, warm starts, and the budget's and variants' refusals.
(Named after the docs page: tests/viz/test_lab.py holds captioner/viz/lab.py's tests.)"""

import dataclasses
import json

import pytest
import torch

from captioner.cli.main import main
from captioner.lab import (
    VARIANT_NAMES,
    VARIANTS,
    LabBudget,
    Variant,
    missing_training_options,
    parse_budget,
    run_lab,
    select_variants,
    warm_start,
)
from captioner.model.config import ModelConfig
from captioner.model.model import CaptionModel


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    from captioner.data.synth import generate_dataset

    return generate_dataset(tmp_path_factory.mktemp("lab-scenes"), n_train=8, n_val=2, n_test=3, n_comp=0, seed=1, image_size=64)


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    """A small model on 64-pixel images, so that the lab's whole path runs in seconds."""
    path = tmp_path_factory.mktemp("lab-config") / "tiny.json"
    model = {"image_size": 64, "embed_dim": 16, "hidden_dim": 24, "attention_dim": 16, "max_len": 8}
    path.write_text(json.dumps({"model": model, "train": {"batch_size": 16, "lr": 3e-3, "min_word_freq": 1, "device": "cpu"}}))
    return path


def test_lab_command_trains_two_variants_and_writes_table_json_and_figure(scenes, tiny_config, tmp_path, capsys):
    out = tmp_path / "lab"
    argv = [
        "lab",
        "--data",
        str(scenes),
        "--out",
        str(out),
        "--variants",
        "additive,sentinel",
        "--budget",
        "6x1",
        "--config",
        str(tiny_config),
    ]
    assert main([*argv, "--val-scenes", "2", "--test-scenes", "3", "--seed", "4"]) == 0
    report = json.loads((out / "lab.json").read_text())
    assert [r["variant"] for r in report["rows"]] == ["additive", "sentinel"]
    assert report["budget"] == {"scenes": 6, "epochs": 1, "seed": 4, "val_scenes": 2, "test_scenes": 3}
    for row in report["rows"]:
        assert row["available"] and row["test_scenes"] == 3
        assert row["CIDEr-D"] >= 0 and 0 <= row["objects_named"] <= 1 and row["decoding_ms_per_image"] > 0
        assert row["decoder_parameters"] > 0
    additive, sentinel = report["rows"]
    assert additive["sentinel_function_words"] is None  # no sentinel, no share
    assert sentinel["decoder_parameters"] > additive["decoder_parameters"]  # the sentinel's own layers
    # every row trained on the same 6 scenes with the configuration given
    for name in ("additive", "sentinel"):
        saved = json.loads((out / "runs" / name / "train_config.json").read_text())
        assert saved["train"]["epochs"] == 1 and saved["train"]["seed"] == 4 and saved["model"]["hidden_dim"] == 24
    assert saved["model"]["sentinel"] is True
    assert len(json.loads((out / "scenes.json").read_text())["images"]) == 6 + 2
    table = (out / "lab.md").read_text()
    assert "| visual sentinel |" in table and "6 training scenes" in table
    assert (out / "lab.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "2 rows" in capsys.readouterr().out
    # run again: the rows measured at this budget are kept, not trained again
    (out / "runs" / "additive").rename(out / "moved")
    assert main([*argv, "--val-scenes", "2", "--test-scenes", "3", "--seed", "4"]) == 0
    assert json.loads((out / "lab.json").read_text())["rows"] == report["rows"] and not (out / "runs" / "additive").exists()


def test_a_row_needing_a_training_option_this_build_lacks_is_reported_not_run(scenes, tmp_path):
    future = Variant("future", "a future option", "test", {}, {"no_such_option": 1})
    assert missing_training_options(future) == ["train.no_such_option"]
    report = run_lab(scenes, tmp_path, [future], LabBudget(scenes=2, epochs=1, val_scenes=1, test_scenes=1), progress=False)
    (row,) = report["rows"]
    assert row["available"] is False and "not available in this build" in row["reason"] and "train.no_such_option" in row["reason"]
    assert "not available in this build" in (tmp_path / "lab.md").read_text()
    assert not (tmp_path / "runs").exists()


def test_every_variant_is_a_valid_configuration():
    from captioner.training.config import TrainConfig

    for variant in VARIANTS:
        dataclasses.replace(ModelConfig(), **variant.model)  # ModelConfig checks each field
        if not missing_training_options(variant):
            TrainConfig(**variant.train)  # and TrainConfig its own
    assert len(set(VARIANT_NAMES)) == len(VARIANTS)


def test_warm_start_copies_shared_parameters_and_names_the_new_ones():
    source = CaptionModel(
        ModelConfig(encoder="resnet18", vocab_size=12, embed_dim=16, hidden_dim=16, attention_dim=8), load_encoder_weights=False
    )
    target = CaptionModel(dataclasses.replace(source.config, sentinel=True), load_encoder_weights=False)
    fresh = warm_start(target, source)
    assert fresh and all(name.startswith("sentinel.") for name in fresh)
    for name, value in source.decoder.state_dict().items():
        assert torch.equal(target.decoder.state_dict()[name], value)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--budget", "10"], "SCENESxEPOCHS"),
        (["--budget", "0x2"], "SCENESxEPOCHS"),
        (["--variants", "additive,bogus"], "unknown 'bogus'"),
        (["--budget", "999x1"], "999 training scenes asked for"),
        (["--test-scenes", "0"], "test_scenes must be a whole number >= 1"),
    ],
)
def test_bad_lab_arguments_exit_2_naming_the_input(scenes, tmp_path, capsys, argv, message):
    assert main(["lab", "--data", str(scenes), "--out", str(tmp_path / "lab"), "--variants", "additive", *argv]) == 2
    assert message in capsys.readouterr().err


def test_budget_and_variants_parse():
    assert parse_budget("1000x2") == (1000, 2) and parse_budget("50X3") == (50, 3)
    assert [v.name for v in select_variants(["local", "dot"])] == ["dot", "local"]  # the lab's order
    assert select_variants(None) == list(VARIANTS)


def test_rows_without_a_config_take_the_shapes_models_settings(tmp_path):
    from captioner.lab import _row_configs

    local = next(v for v in VARIANTS if v.name == "local")
    model, train = _row_configs(local, LabBudget(scenes=5, epochs=3, seed=2), None, tmp_path / "d.json", tmp_path / "run", tmp_path / "c")
    assert (model.hidden_dim, model.embed_dim, model.feature_levels, model.local_sigma) == (256, 128, (2, 3, 4), 2.0)
    assert (train.lr, train.doubly_stochastic, train.min_word_freq, train.epochs, train.seed) == (0.002, 0.0, 1, 3, 2)


def test_a_warm_started_row_starts_from_the_models_decoder_and_trains(scenes, tmp_path):
    from captioner.data.datasets import load_dataset
    from captioner.modeldir.checkpoint import load_model, save_model
    from captioner.vocab import Vocabulary

    vocab = Vocabulary.build((c for r in load_dataset(scenes) for c in r.captions), min_freq=1)
    config = ModelConfig(image_size=64, embed_dim=16, hidden_dim=24, attention_dim=16, max_len=8, vocab_size=len(vocab))
    torch.manual_seed(0)
    save_model(CaptionModel(config).eval(), vocab, tmp_path / "source")
    local = next(v for v in VARIANTS if v.name == "local")
    budget = LabBudget(scenes=6, epochs=1, val_scenes=1, test_scenes=2)
    report = run_lab(scenes, tmp_path / "lab", [local], budget, warm_start_from=tmp_path / "source", progress=False)
    (row,) = report["rows"]
    assert row["available"] and row["test_scenes"] == 2 and report["warm_start"] == str(tmp_path / "source")
    note = json.loads((tmp_path / "lab" / "runs" / "local" / "warm_start.json").read_text())
    assert note["initialised"] == ["local.position.weight", "local.predict.weight"]
    source, _ = load_model(tmp_path / "source")
    tuned, _ = load_model(row["model_dir"])
    assert tuned.config.local_sigma == 2.0 and tuned.config.hidden_dim == 24
    assert not torch.equal(tuned.decoder.embedding.weight, source.decoder.embedding.weight)  # it trained from there
    # a row whose training option runs in `captioner train` only is not warm-started
    needs_train = Variant("x", "x", "test", {}, {"lr": 0.1})
    (row,) = run_lab(scenes, tmp_path / "lab2", [needs_train], budget, warm_start_from=tmp_path / "source", progress=False)["rows"]
    assert not row["available"] and "warm start" in row["reason"]


def test_a_new_grid_self_attention_layer_starts_near_passing_the_annotations_through():
    from captioner.lab import near_identity_grid_attention
    from captioner.model.grid_self_attention import GridSelfAttention

    torch.manual_seed(0)
    layer = GridSelfAttention(16, 4, (3, 3)).eval()
    z = torch.randn(5, 9, 16)
    z = (z - z.mean(-1, keepdim=True)) / z.std(-1, unbiased=False, keepdim=True)  # each cell normalised
    annotations = 2.0 * z + 0.5  # cells whose statistics over channels are alike: a per-channel map restores them exactly
    assert not torch.allclose(layer(annotations), annotations, atol=0.1)  # a random layer changes them
    fitted = near_identity_grid_attention(layer, annotations.numpy(), sample=5)
    assert fitted["variance_kept"] > 0.999 and fitted["images"] == 5
    torch.testing.assert_close(layer.norm_out.weight.detach(), torch.full((16,), 2.0), atol=1e-3, rtol=0)
    torch.testing.assert_close(layer(annotations), annotations, atol=2e-3, rtol=0)
    out = layer(annotations)
    out.sum().backward()  # the zeroed output projections still learn
    assert layer.attention.out_proj.weight.grad.abs().sum() > 0 and layer.feed_forward[-1].weight.grad.abs().sum() > 0
