import json
import pickle
from pathlib import Path

import pytest
import torch

from captioner import Captioner, CheckpointError, ModelConfig
from captioner.modeldir.checkpoint import load_model


class _Payload:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_the_payload_really_runs_when_unpickled(tmp_path):
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_Payload(marker)))
    assert marker.exists()  # so the tests below would notice if we ever unpickled


def test_pickle_file_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(CheckpointError, match="refusing to load a pickle"):
        Captioner.from_pretrained(path, device="cpu")
    assert not marker.exists()


def test_pickle_disguised_as_safetensors_is_refused(tmp_path, small_captioner):
    marker = tmp_path / "ran"
    small_captioner.save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(CheckpointError, match="refusing"):
        load_model(tmp_path / "m")
    assert not marker.exists()


def test_torch_save_archive_is_refused(tmp_path, small_captioner):
    marker = tmp_path / "ran"
    torch.save({"weights": small_captioner.model.state_dict(), "evil": _Payload(marker)}, tmp_path / "ckpt.pth")
    with pytest.raises(CheckpointError, match="torch.save"):
        Captioner.from_pretrained(tmp_path / "ckpt.pth", device="cpu")
    assert not marker.exists()
    (tmp_path / "legacy").mkdir()
    (tmp_path / "legacy" / "BEST_checkpoint.pth.tar").write_bytes((tmp_path / "ckpt.pth").read_bytes())
    with pytest.raises(CheckpointError, match="refuses to unpickle"):
        load_model(tmp_path / "legacy")
    assert not marker.exists()


def test_saved_directory_layout_and_json(tmp_path, small_captioner):
    out = small_captioner.save_pretrained(tmp_path / "m")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors", "vocab.json"]
    config = json.loads((out / "config.json").read_text())
    assert config["format"] == "captioner-model" and config["grid_size"] == [14, 14] and config["feature_dim"] == 432
    # The frozen default encoder is rebuilt from the bundled weights, not stored again.
    from safetensors import safe_open

    with safe_open(str(out / "model.safetensors"), "pt") as f:
        assert not any(k.startswith("encoder.") for k in f.keys())
        assert f.metadata()["encoder_included"] == "false"


def test_reload_gives_identical_captions(tmp_path, small_captioner, photos):
    images = [photos["chelsea"], photos["rocket"]]
    before = small_captioner.caption(images, beam_size=3)
    small_captioner.save_pretrained(tmp_path / "m")
    after = Captioner.from_pretrained(tmp_path / "m", device="cpu").caption(images, beam_size=3)
    assert [r.words for r in after] == [r.words for r in before]
    assert [r.score for r in after] == pytest.approx([r.score for r in before], abs=1e-6)


def test_fine_tuned_encoder_travels_with_the_model(tmp_path, vocab, photos):
    from captioner import ModelConfig

    torch.manual_seed(0)
    cap = Captioner.from_config(ModelConfig(embed_dim=16, hidden_dim=16, attention_dim=16, finetune_blocks=1), vocab)
    with torch.no_grad():
        cap.model.encoder.backbone.blocks[6][0].conv_pwl.weight.mul_(1.5)  # as if trained
    cap.save_pretrained(tmp_path / "m")
    loaded = Captioner.from_pretrained(tmp_path / "m", device="cpu")
    assert torch.equal(loaded.model.encoder.backbone.blocks[6][0].conv_pwl.weight, cap.model.encoder.backbone.blocks[6][0].conv_pwl.weight)


def test_half_precision_storage(tmp_path, small_captioner, photos):
    small_captioner.save_pretrained(tmp_path / "m16", dtype=torch.float16)
    small_captioner.save_pretrained(tmp_path / "m32")
    size16 = (tmp_path / "m16" / "model.safetensors").stat().st_size
    size32 = (tmp_path / "m32" / "model.safetensors").stat().st_size
    assert size16 < 0.6 * size32
    from safetensors import safe_open

    with safe_open(str(tmp_path / "m16" / "model.safetensors"), "pt") as f:
        stored = {k: f.get_tensor(k) for k in f.keys()}
    floating = {k: v for k, v in stored.items() if v.is_floating_point()}
    assert floating and {v.dtype for v in floating.values()} == {torch.float16}
    # Loaded back, every tensor is float32 again and holds exactly the stored (rounded) values.
    loaded = Captioner.from_pretrained(tmp_path / "m16", device="cpu")
    state, original = loaded.model.state_dict(), small_captioner.model.state_dict()
    for name, value in floating.items():
        assert state[name].dtype == torch.float32, name
        assert torch.equal(state[name], value.float()), name
    rounded = state["decoder.embedding.weight"]
    assert not torch.equal(rounded, original["decoder.embedding.weight"])  # really the float16 file's values
    assert torch.allclose(rounded, original["decoder.embedding.weight"], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("broken", ["missing", "vocab_mismatch", "not_safetensors", "bad_config"])
def test_incomplete_or_wrong_directories(tmp_path, small_captioner, broken):
    out = small_captioner.save_pretrained(tmp_path / "m")
    if broken == "missing":
        (out / "vocab.json").unlink()
        match = "missing \\['vocab.json'\\]"
    elif broken == "vocab_mismatch":
        words = json.loads((out / "vocab.json").read_text())
        words["words"].append("extra")
        (out / "vocab.json").write_text(json.dumps(words))
        match = "vocab.json has"
    elif broken == "not_safetensors":
        (out / "model.safetensors").write_bytes(b"garbage" * 10)
        match = "not a safetensors file"
    else:
        (out / "config.json").write_text(json.dumps({"format": "something-else"}))
        match = "not a captioner model config"
    with pytest.raises(CheckpointError, match=match):
        load_model(out)
    with pytest.raises(CheckpointError, match="no such model directory"):
        load_model(tmp_path / "nowhere")


def test_non_finite_weights_are_never_saved(tmp_path, vocab):
    torch.manual_seed(0)
    cap = Captioner.from_config(ModelConfig(embed_dim=8, hidden_dim=8, attention_dim=8, max_len=4), vocab)
    with torch.no_grad():
        cap.model.decoder.out.bias[3] = float("nan")
    with pytest.raises(CheckpointError, match="not finite.*decoder.out.bias"):
        cap.save_pretrained(tmp_path / "m")
    assert not (tmp_path / "m" / "model.safetensors").exists()


def _edit_config(directory, **changes):
    config = json.loads((directory / "config.json").read_text())
    config.update(changes)
    (directory / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    "changes, match",
    [
        (dict(dropout="lots"), "dropout"),
        (dict(hidden_dim="512"), "hidden_dim"),
        (dict(image_size=0), "image_size"),
        (dict(dropout=float("nan")), "dropout"),
        (dict(hidden_dim=10**9), "hidden_dim"),  # went to the allocator: 512 GB asked
        (dict(hidden_dim=True), "hidden_dim"),
        (dict(feature_levels="34"), "feature_levels"),
        (dict(grid_size=[14]), "grid_size"),
        (dict(attention="telepathy"), "attention"),
        (dict(vocab_size=-1), "vocab_size"),
    ],
)
def test_malformed_config_values_are_checkpoint_errors_naming_the_file(tmp_path, small_captioner, changes, match):
    out = small_captioner.save_pretrained(tmp_path / "m")
    _edit_config(out, **changes)
    with pytest.raises(CheckpointError, match=f"config.json.*{match}"):
        load_model(out)


def test_deeply_nested_config_is_a_checkpoint_error(tmp_path, small_captioner):
    out = small_captioner.save_pretrained(tmp_path / "m")
    (out / "config.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(CheckpointError, match="config.json"):
        load_model(out)


def test_sizes_beyond_what_the_weights_file_holds_are_refused_before_allocating(tmp_path, small_captioner, monkeypatch):
    from captioner.modeldir import checkpoint

    out = small_captioner.save_pretrained(tmp_path / "m")
    _edit_config(out, hidden_dim=8192)  # in range, but ~300M parameters: far more than the small file holds
    monkeypatch.setattr(checkpoint, "CaptionModel", lambda *a, **k: pytest.fail("allocated before checking"))
    with pytest.raises(CheckpointError, match="model.safetensors.*parameters"):
        load_model(out)


def test_any_other_load_failure_is_a_checkpoint_error_naming_the_directory(tmp_path, small_captioner, monkeypatch):
    from captioner.modeldir import checkpoint

    out = small_captioner.save_pretrained(tmp_path / "m")

    def broken(*args, **kwargs):
        raise RuntimeError("something deep in torch")

    monkeypatch.setattr(checkpoint, "CaptionModel", broken)
    with pytest.raises(CheckpointError, match=f"{out}.*something deep in torch"):
        load_model(out)


def test_encoder_weights_named_in_config_are_never_opened_outside_the_directory(tmp_path, small_captioner, monkeypatch):
    from captioner.model import encoder

    opened = []

    def record(path):
        opened.append(str(path))
        raise encoder.EncoderWeightsError(f"stop: {path}")

    monkeypatch.setattr(encoder, "load_weights_file", record)
    out = small_captioner.save_pretrained(tmp_path / "m")
    outside = tmp_path / "secret.pt"
    outside.write_bytes(b"not for models")
    for path in (str(outside), "../secret.pt", "/etc/passwd"):
        _edit_config(out, encoder="resnet18", encoder_weights=path)
        with pytest.raises(CheckpointError, match="outside the model directory"):
            load_model(out)
    assert opened == []
    # Inside the directory, or passed by the caller explicitly, the file is used.
    _edit_config(out, encoder_weights="encoder.pt")
    with pytest.raises(CheckpointError, match="stop"):
        load_model(out)
    with pytest.raises(CheckpointError, match="stop"):
        load_model(out, encoder_weights=outside)
    assert opened == [str((out / "encoder.pt").resolve()), str(outside)]


@pytest.mark.parametrize("name", ["vocab.json", "model.safetensors"])
def test_a_folder_mixing_files_of_two_saves_refuses_to_load(tmp_path, vocab, name):
    from captioner import Vocabulary

    torch.manual_seed(0)
    config = ModelConfig(embed_dim=8, hidden_dim=8, attention_dim=8, max_len=4)
    first = Captioner.from_config(config, vocab).save_pretrained(tmp_path / "first")
    reordered = Vocabulary(vocab.itos[:4] + vocab.itos[4:][::-1])  # same size: only a fingerprint tells them apart
    second = Captioner.from_config(config, reordered).save_pretrained(tmp_path / "second")
    (first / name).write_bytes((second / name).read_bytes())
    with pytest.raises(CheckpointError, match=f"{name} is not the file saved with config.json"):
        load_model(first)


def test_fingerprints_are_recorded_and_folders_saved_before_them_still_load(tmp_path, small_captioner):
    import hashlib

    out = small_captioner.save_pretrained(tmp_path / "m")
    config = json.loads((out / "config.json").read_text())
    for name in ("vocab.json", "model.safetensors"):
        assert config["sha256"][name] == hashlib.sha256((out / name).read_bytes()).hexdigest()
    del config["sha256"]  # as every model saved before fingerprints (the shipped ones)
    (out / "config.json").write_text(json.dumps(config))
    load_model(out)


def test_a_model_with_nan_weights_is_refused_at_load(tmp_path, small_captioner):
    # It loaded silently, then --heatmaps and inspect crashed with 0 records (issue 25).
    from safetensors.torch import load_file, save_file

    out = small_captioner.save_pretrained(tmp_path / "m")
    state = load_file(str(out / "model.safetensors"))
    state["decoder.out.bias"][2] = float("nan")
    save_file(state, str(out / "model.safetensors"), metadata={"format": "captioner", "encoder_included": "false"})
    config = json.loads((out / "config.json").read_text())
    del config["sha256"]  # as a folder saved before fingerprints, so the NaN check is what refuses it
    (out / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"not finite.*decoder.out.bias"):
        load_model(out)


def test_an_image_size_that_gives_another_grid_is_refused_in_a_moment(tmp_path, small_captioner):
    # image_size 4096 took 4.7 GB and 87 s (a real dry run of the encoder) before this refusal (issue 25).
    import time

    out = small_captioner.save_pretrained(tmp_path / "m")
    _edit_config(out, image_size=4096)
    started = time.perf_counter()
    with pytest.raises(CheckpointError, match=r"grid \(256, 256\).*\(14, 14\)"):
        load_model(out)
    assert time.perf_counter() - started < 10


def test_the_attention_labs_variants_save_load_and_caption_the_same(tmp_path, vocab, photos):
    # Each variant's weights and config go through the model directory, and the loaded model
    # captions as the saved one did (through the runtime's merged step and the model's own).
    from captioner.decoding.options import decoding_options
    from captioner.decoding.search import generate
    from captioner.runtime.decoding_step import ReferenceStep

    torch.manual_seed(0)
    config = ModelConfig(
        embed_dim=32, hidden_dim=48, attention_dim=32, dropout=0.0, max_len=8, local_sigma=2.0, sentinel=True, grid_self_attention_heads=4
    )
    saved = Captioner.from_config(config, vocab)
    saved.save_pretrained(tmp_path / "m")
    stored = json.loads((tmp_path / "m" / "config.json").read_text())
    assert (stored["local_sigma"], stored["sentinel"], stored["grid_self_attention_heads"]) == (2.0, True, 4)
    loaded = Captioner.from_pretrained(tmp_path / "m", device="cpu")
    assert loaded.model.decoder.lab_options() == ["model.local_sigma", "model.sentinel", "model.grid_self_attention_heads"]
    images = [photos["chelsea"], photos["rocket"]]
    before, after = saved.caption(images, beam_size=2), loaded.caption(images, beam_size=2)
    assert [r.text for r in before] == [r.text for r in after]
    hyps = generate(ReferenceStep(loaded.model.decoder), loaded.encode(images), decoding_options(beam_size=2))
    assert [r.words for r in after] == [[loaded.vocab.itos[t] for t in hyps.tokens[b, 0, : hyps.lengths[b, 0]]] for b in range(2)]
    assert hyps.centres.shape[:2] == (2, 1) and hyps.sentinel_shares.shape[:2] == (2, 1)
