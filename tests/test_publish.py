"""`captioner export` (captioner.publish.export_model): float16 exactly when it leaves the
check images' captions unchanged. Two decoders are built by hand: one whose first word wins by a
wide margin, and one whose first word wins by less than float16 rounding of its weights moves it."""

from __future__ import annotations

import pytest
import torch
from safetensors import safe_open

from captioner import Captioner, ModelConfig
from captioner.publish import export_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def hand_built_model(vocab, weight_of_red: float) -> Captioner:
    """Logits that depend on the previous word only (the deep output's h and z parts are zero):
    after <start>, "red" scores tanh(1) * weight_of_red and "blue" tanh(1) + 0.00023; after
    either, <end> wins. In float32 "red" wins whenever weight_of_red > 1.0003."""
    torch.manual_seed(0)
    cap = Captioner.from_config(ModelConfig(image_size=64, embed_dim=8, hidden_dim=8, attention_dim=8, max_len=4), vocab)
    d = cap.model.decoder
    start, end, red, blue = (vocab.stoi[w] for w in ("<start>", "<end>", "red", "blue"))
    with torch.no_grad():
        for layer in (d.out_hidden, d.out_context):
            layer.weight.zero_()
            layer.bias.zero_()
        d.embedding.weight.zero_()
        d.embedding.weight[start, 0] = 1.0
        d.embedding.weight[red, 1] = d.embedding.weight[blue, 1] = 1.0
        d.out.weight.zero_()
        d.out.bias.fill_(-20.0)
        d.out.weight[red, 0], d.out.bias[red] = weight_of_red, 0.0
        d.out.weight[blue, 0], d.out.bias[blue] = 1.0, 0.00023
        d.out.weight[end, 1] = 30.0
    return cap


def stored_dtypes(directory) -> set:
    with safe_open(str(directory / "model.safetensors"), "pt") as f:
        return {f.get_tensor(k).dtype for k in f.keys() if f.get_tensor(k).is_floating_point()}


@pytest.mark.parametrize(
    "weight_of_red, float16_words, dtype",
    [
        (1.25, ["red"], "float16"),  # exact in float16: the caption cannot change
        (1.0004, ["blue"], "float32"),  # float16 rounds it to 1.0: "blue" would win
    ],
)
def test_float16_exactly_when_the_captions_stay(tmp_path, vocab, photos, weight_of_red, float16_words, dtype):
    cap = hand_built_model(vocab, weight_of_red)
    images = [photos["chelsea"], photos["coffee"]]
    assert [r.words for r in cap.caption(images)] == [["red"], ["red"]]
    # what the model says with float16 weights, whatever export does
    cap.save_pretrained(tmp_path / "half", dtype=torch.float16)
    assert [r.words for r in Captioner.from_pretrained(tmp_path / "half", device="cpu").caption(images)] == [float16_words] * 2

    cap.save_pretrained(tmp_path / "trained")
    report = export_model(tmp_path / "trained", tmp_path / "pub", check_images=images)
    assert report["dtype"] == dtype
    assert report["changed_captions"] == (0 if dtype == "float16" else 2)
    assert stored_dtypes(tmp_path / "pub") == {getattr(torch, dtype)}
    published = Captioner.from_pretrained(tmp_path / "pub", device="cpu")
    assert [r.words for r in published.caption(images)] == [["red"], ["red"]]


def test_full_precision_and_no_check_images(tmp_path, vocab):
    hand_built_model(vocab, 1.0004).save_pretrained(tmp_path / "trained")
    assert export_model(tmp_path / "trained", tmp_path / "full", half=False)["dtype"] == "float32"
    assert stored_dtypes(tmp_path / "full") == {torch.float32}
    # nothing to check against: float16 is taken on trust
    assert export_model(tmp_path / "trained", tmp_path / "trust")["dtype"] == "float16"
    assert stored_dtypes(tmp_path / "trust") == {torch.float16}


def test_float16_with_a_few_changed_captions_allowed_lists_them(tmp_path, vocab, photos):
    images = [photos["chelsea"], photos["coffee"]]
    hand_built_model(vocab, 1.0004).save_pretrained(tmp_path / "trained")  # float16 flips both captions
    strict = export_model(tmp_path / "trained", tmp_path / "strict", check_images=images, allowed_changes=1)
    assert strict["dtype"] == "float32" and strict["changed_captions"] == 2
    loose = export_model(tmp_path / "trained", tmp_path / "loose", check_images=images, allowed_changes=2)
    assert loose["dtype"] == "float16" and stored_dtypes(tmp_path / "loose") == {torch.float16}
    assert [(c["float32"], c["float16"]) for c in loose["changes"]] == [("red", "blue"), ("red", "blue")]


def test_export_cut_off_half_way_leaves_the_previous_model_whole(tmp_path, vocab, photos, monkeypatch):
    # Export replaced model.safetensors, config.json and vocab.json one by one: killed in between,
    # the folder held new weights with the old vocabulary and loaded without error (issue 25).
    from captioner.modeldir import checkpoint

    images = [photos["chelsea"]]
    old = hand_built_model(vocab, 1.25)
    old.save_pretrained(tmp_path / "pub")
    (tmp_path / "pub" / "README.md").write_text("# the published model's card")
    before = [r.text for r in Captioner.from_pretrained(tmp_path / "pub", device="cpu").caption(images)]
    torch.manual_seed(1)
    Captioner.from_config(ModelConfig(image_size=64, embed_dim=8, hidden_dim=8, attention_dim=8, max_len=4), vocab).save_pretrained(
        tmp_path / "new"
    )

    writes = []
    real_write = checkpoint.atomic_write

    def killed_after_two_files(target, data, *args, **kwargs):
        if len(writes) == 2:
            raise KeyboardInterrupt  # kill -9 stands in: nothing after this runs
        writes.append(target)
        return real_write(target, data, *args, **kwargs)

    monkeypatch.setattr(checkpoint, "atomic_write", killed_after_two_files)
    with pytest.raises(KeyboardInterrupt):
        export_model(tmp_path / "new", tmp_path / "pub", check_images=images)
    monkeypatch.undo()
    assert [r.text for r in Captioner.from_pretrained(tmp_path / "pub", device="cpu").caption(images)] == before
    report = export_model(tmp_path / "new", tmp_path / "pub", half=False)
    assert report["target"] == str(tmp_path / "pub") and report["dtype"] == "float32"
    published = Captioner.from_pretrained(tmp_path / "pub", device="cpu")
    assert torch.equal(published.model.decoder.out.weight, Captioner.from_pretrained(tmp_path / "new").model.decoder.out.weight)
    assert (tmp_path / "pub" / "README.md").read_text() == "# the published model's card"  # kept, as before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "pub"]  # no staging folder left


def test_export_never_replaces_a_folder_that_is_not_a_model(tmp_path, vocab):
    hand_built_model(vocab, 1.25).save_pretrained(tmp_path / "trained")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "thesis.tex").write_text("years of work")
    with pytest.raises(ValueError, match="not a model directory"):
        export_model(tmp_path / "trained", tmp_path / "home")
    assert (tmp_path / "home" / "thesis.tex").read_text() == "years of work"
