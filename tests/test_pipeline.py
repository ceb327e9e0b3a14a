import copy
import io
import json

import numpy as np
import pytest
import torch

from captioner import Captioner, ImageLoadError, ModelConfig, NoDefaultModelError, pipeline
from captioner.modeldir import directory


def test_caption_accepts_paths_bytes_and_pil_images(tmp_path, small_captioner, photos):
    path = tmp_path / "cat.jpg"
    photos["chelsea"].save(path, quality=95)
    buf = io.BytesIO()
    photos["coffee"].save(buf, "PNG")
    results = small_captioner.caption([str(path), buf.getvalue(), photos["astronaut"]], beam_size=2)
    assert len(results) == 3
    for r in results:
        assert r.text == " ".join(r.words)
        assert r.attention.dtype == np.float32 and r.attention.shape == (len(r.words), 14, 14)
        assert np.allclose(r.attention.sum(axis=(1, 2)), 1.0, atol=1e-5)
        assert r.betas.shape == (len(r.words),)
        assert np.isfinite(r.score) and r.score <= 0
        assert "<" not in r.text  # no special tokens in the text


def test_same_image_any_form_same_caption(tmp_path, small_captioner, photos):
    path = tmp_path / "rocket.png"
    photos["rocket"].save(path)
    a, b = small_captioner.caption([path, path.read_bytes()])
    assert a.words == b.words and a.score == pytest.approx(b.score)


def test_a_large_jpeg_is_read_at_a_reduced_scale_and_reports_its_full_size(tmp_path, small_captioner, photos):
    path = tmp_path / "big.jpg"
    photos["astronaut"].resize((3000, 2700)).save(path, quality=90)  # a phone photo's size
    (kept,) = small_captioner.stream([path], keep_images=True)
    (bare,) = small_captioner.stream([path.read_bytes()])
    assert kept.size == bare.size == (3000, 2700)  # boxes and maps are in the original's coordinates
    assert kept.image.size == (1500, 1350)  # 1/2: at 1/4 a side would be under 2 x 3 x 224
    # The kept image (heatmaps) is the one captioned, so captions do not depend on keeping it.
    assert kept.result.words == bare.result.words and kept.result.score == pytest.approx(bare.result.score)


def test_batches_do_not_change_results(small_captioner, photos):
    images = list(photos.values())
    together = small_captioner.caption(images, beam_size=3, batch_size=4)
    apart = small_captioner.caption(images, beam_size=3, batch_size=1)
    assert [r.words for r in together] == [r.words for r in apart]
    assert [r.score for r in together] == pytest.approx([r.score for r in apart], abs=1e-5)


def test_fixed_seed_gives_identical_captions(vocab, photos):
    from captioner import ModelConfig

    def build():
        torch.manual_seed(123)
        return Captioner.from_config(ModelConfig(embed_dim=16, hidden_dim=16, attention_dim=16, max_len=6), vocab)

    images = [photos["chelsea"], photos["coffee"]]
    assert [r.words for r in build().caption(images)] == [r.words for r in build().caption(images)]


def test_n_best_alternatives_sorted(small_captioner, photos):
    (r,) = small_captioner.caption([photos["chelsea"]], beam_size=4, n_best=3)
    assert len(r.alternatives) == 3
    assert r.alternatives[0] == (r.text, pytest.approx(r.score))
    scores = [s for _, s in r.alternatives]
    assert scores == sorted(scores, reverse=True)
    json_record = r.to_json()
    assert json_record["caption"] == r.text and len(json_record["alternatives"]) == 3


def test_bad_image_raises_naming_it(tmp_path, small_captioner):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not really a jpeg")
    with pytest.raises(ImageLoadError, match="broken.jpg"):
        small_captioner.caption([bad])


def test_no_default_model_yet_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(directory, "PRETRAINED_DIR", tmp_path / "pretrained")
    with pytest.raises(NoDefaultModelError, match="no default model"):
        Captioner.from_pretrained()


def test_shipped_models_by_name(tmp_path, monkeypatch, small_captioner):
    monkeypatch.setattr(directory, "PRETRAINED_DIR", tmp_path / "pretrained")
    assert pipeline.shipped_models() == []
    with pytest.raises(NoDefaultModelError, match="hard"):
        Captioner.from_pretrained("hard")
    small_captioner.save_pretrained(tmp_path / "pretrained" / "hard")
    assert pipeline.shipped_models() == ["hard"]
    assert Captioner.from_pretrained("hard", device="cpu").vocab.itos == small_captioner.vocab.itos


def named_pairs(words: list[str]) -> set[tuple[str, str]]:
    """The (colour, shape) pairs a caption names: a colour word right before a shape word."""
    from captioner.data.synth import COLORS, PLURALS, SHAPES

    shape_of = {**{s: s for s in SHAPES}, **{p: s for s, p in PLURALS.items()}}
    return {(a, shape_of[b]) for a, b in zip(words, words[1:]) if a in COLORS and b in shape_of}


# The bundled scenes' objects, as data/samples/README.md lists them.
SCENE_OBJECTS = {
    "scene-1.png": {("green", "circle"), ("green", "square"), ("yellow", "star")},
    "scene-2.png": {("white", "square"), ("yellow", "diamond"), ("blue", "star")},
}


def test_named_pairs():
    assert named_pairs("there is a red star a green star and two purple stars".split()) == {
        ("red", "star"),
        ("green", "star"),
        ("purple", "star"),
    }
    assert named_pairs("a red big circle".split()) == set()


def test_the_shipped_models_load_and_describe_a_scene():
    """The shapes (soft attention) model names every object of two bundled scenes by its colour and shape,
    and nothing else; the weaker hard model names two of scene 2's three objects right."""
    from pathlib import Path

    samples = Path(__file__).resolve().parents[1] / "data" / "samples"
    for name in ("shapes", "hard"):
        cap = Captioner.from_pretrained(name, device="cpu")
        assert cap.config.hard_attention == (name == "hard")
        assert "synthetic scenes" in cap.config.trained_on
        results = cap.caption([samples / scene for scene in SCENE_OBJECTS], beam_size=3)
        assert all(r.finished for r in results)
        named = {scene: named_pairs(r.words) for scene, r in zip(SCENE_OBJECTS, results)}
        if name == "shapes":
            assert named == SCENE_OBJECTS, [r.text for r in results]
        else:
            assert len(named["scene-2.png"] & SCENE_OBJECTS["scene-2.png"]) >= 2, results[1].text


def test_json_of_a_non_finite_result_is_strict_json():
    from captioner.results.result import CaptionResult

    nan = float("nan")
    result = CaptionResult(
        "a", ["a"], np.full((1, 2, 2), nan, np.float32), nan, np.array([nan], np.float32), alternatives=[("a", nan), ("b", float("-inf"))]
    )
    data = result.to_json(include_attention=True)
    json.dumps(data, allow_nan=False)  # strict parsers reject NaN
    assert data["score"] is None and data["betas"] == [None] and data["alternatives"][1]["score"] is None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(batch_size=-1), "batch_size"),
        (dict(batch_size=0), "batch_size"),
        (dict(batch_size=2.5), "batch_size"),
        (dict(max_len=0), "max_len"),
        (dict(max_len=-1), "max_len"),
        (dict(beam_size=1.5), "beam_size"),
        (dict(length_penalty=float("nan")), "length_penalty"),
    ],
)
def test_caption_arguments_are_checked(small_captioner, photos, kwargs, match):
    with pytest.raises(ValueError, match=match):
        small_captioner.caption([photos["coffee"]], **kwargs)


@pytest.mark.parametrize("images", [None, 5, {"a.jpg": 1}, {"a.jpg"}, 2.5])
def test_caption_refuses_what_is_no_image_or_list_of_images(small_captioner, images):
    with pytest.raises(ValueError, match="path, bytes or a PIL image"):
        small_captioner.caption(images)


def test_a_single_memoryview_is_one_image(small_captioner, photos):
    buffer = io.BytesIO()
    photos["coffee"].resize((64, 48)).save(buffer, "PNG")
    (result,) = small_captioner.caption(memoryview(buffer.getvalue()), beam_size=1)
    (same,) = small_captioner.caption(buffer.getvalue(), beam_size=1)  # the same image as bytes
    assert result.words == same.words and result.score == pytest.approx(same.score)
    np.testing.assert_array_equal(result.attention, same.attention)


def test_int8_decoding_is_an_option_of_the_cpu(small_captioner, photos):
    with pytest.raises(ValueError, match="CPU only"):
        Captioner(small_captioner.model, small_captioner.vocab, device="cuda", int8=True)
    fast = Captioner(copy.deepcopy(small_captioner.model), small_captioner.vocab, int8=True)
    (result,) = fast.caption(photos["chelsea"])
    assert result.attention.shape[0] == len(result.words) and np.isfinite(result.score)
    assert not small_captioner.runtime.int8  # the float captioner is untouched


def test_onnx_decoding_is_an_option_of_the_cpu_with_the_same_captions(small_captioner, photos):
    with pytest.raises(ValueError, match="CPU only"):
        Captioner(small_captioner.model, small_captioner.vocab, device="cuda", onnx=True)
    onnx = Captioner(copy.deepcopy(small_captioner.model), small_captioner.vocab, onnx=True)
    images = [photos["chelsea"], photos["coffee"]]
    for ours, theirs in zip(onnx.caption(images), small_captioner.caption(images)):
        assert ours.words == theirs.words and ours.score == pytest.approx(theirs.score, abs=1e-5)
        np.testing.assert_allclose(ours.attention, theirs.attention, atol=1e-5)
    assert not small_captioner.runtime.onnx
    assert onnx.runtime.encoder_onnx and onnx.runtime._encoders  # the encoder ran on ONNX Runtime too
    # both: the step on ONNX Runtime with int8 products (a few captions can differ)
    both = Captioner(copy.deepcopy(small_captioner.model), small_captioner.vocab, int8=True, onnx=True)
    for result in both.caption(images):
        assert result.attention.shape[0] == len(result.words) and np.isfinite(result.score)


def test_the_namers_view_of_each_image_is_made_in_the_reading_threads_and_reaches_it(small_captioner):
    import threading

    from PIL import Image

    class RecordingNamer:
        def __init__(self):
            self.threads, self.images = [], []

        def image_view(self, image):
            self.threads.append(threading.current_thread().name)
            return ("view", image.size)

        def rename_all(self, results, features, images):
            assert len(results) == len(images) == features.shape[0]
            self.images.extend(images)

    captioner = copy.copy(small_captioner)
    captioner.namer = RecordingNamer()
    inputs = [Image.new("RGB", (40, 30), "red"), b"not an image", Image.new("RGB", (50, 20), "blue")]
    items = list(captioner.stream(inputs, batch_size=2))
    assert [item.error is None for item in items] == [True, False, True]
    assert captioner.namer.images == [(("view", (40, 30)), (40, 30)), (("view", (50, 20)), (50, 20))]
    assert len(captioner.namer.threads) == 2 and all(name.startswith("captioner") for name in captioner.namer.threads)


@pytest.fixture(scope="module")
def lab_captioner(vocab):
    """A random model with every attention-lab variant on (local attention, sentinel, 2-head grid self-attention)."""
    torch.manual_seed(0)
    config = ModelConfig(
        embed_dim=16, hidden_dim=24, attention_dim=16, dropout=0.0, max_len=6, local_sigma=1.5, sentinel=True, grid_self_attention_heads=2
    )
    return Captioner.from_config(config, vocab)


def test_the_lab_variants_reach_the_caption_results(lab_captioner, small_captioner, photos):
    images = [photos["chelsea"], photos["coffee"]]
    results = lab_captioner.caption(images, beam_size=2)
    H, W = lab_captioner.config.grid_size
    features = lab_captioner.encode(images)
    expected_maps = lab_captioner.model.decoder.grid_attention_maps(features).detach().numpy()
    for b, result in enumerate(results):
        n = len(result.words)
        assert result.centres.shape == (n, 2) and ((result.centres >= 0) & (result.centres <= [H, W])).all()
        assert result.sentinel_shares.shape == (n,) and ((result.sentinel_shares > 0) & (result.sentinel_shares < 1)).all()
        assert result.grid_attention.shape == (2, H * W, H * W)
        np.testing.assert_allclose(result.grid_attention, expected_maps[b], atol=1e-5)
        np.testing.assert_allclose(result.cell_attention(3, 4).sum(axis=(1, 2)), 1.0, atol=1e-5)
    # the same extras on ONNX Runtime (the app's path on a CPU)
    onnx = Captioner(copy.deepcopy(lab_captioner.model), lab_captioner.vocab, onnx=True)
    for ours, theirs in zip(onnx.caption(images, beam_size=2), results):
        assert ours.words == theirs.words
        np.testing.assert_allclose(ours.centres, theirs.centres, atol=1e-4)
        np.testing.assert_allclose(ours.sentinel_shares, theirs.sentinel_shares, atol=1e-4)
        np.testing.assert_allclose(ours.grid_attention, theirs.grid_attention, atol=1e-4)
    (plain,) = small_captioner.caption(photos["chelsea"])
    assert plain.centres is None and plain.sentinel_shares is None and plain.grid_attention is None


@pytest.mark.parametrize("beam_size", [1, 3])
def test_the_grid_maps_come_from_the_one_refinement_the_search_does(lab_captioner, photos, monkeypatch, beam_size):
    from captioner.decoding.options import decoding_options
    from captioner.decoding.search import generate
    from captioner.model.grid_self_attention import GridSelfAttention
    from captioner.results.from_hypotheses import caption_results
    from captioner.runtime.decoding_step import ReferenceStep

    images = [photos["chelsea"], photos["coffee"], photos["astronaut"]]
    decoder, vocab, grid = lab_captioner.model.decoder, lab_captioner.vocab, lab_captioner.config.grid_size
    refined = []  # the annotations each run of the layer got
    forward = GridSelfAttention.forward
    monkeypatch.setattr(GridSelfAttention, "forward", lambda self, *a, **kw: refined.append(a[0]) or forward(self, *a, **kw))
    results = lab_captioner.caption(images, beam_size=beam_size)
    (features,) = refined  # one run of the layer for the batch: no second one for the maps
    monkeypatch.undo()
    with torch.inference_mode():
        layer_maps = lab_captioner.runtime.step().decoder.grid_attention_maps(features)  # the layer the search ran (a snapshot)
        maps = decoder.grid_attention_maps(features)
        # the model's own start (its refinement without maps) and steps
        expected = caption_results(generate(ReferenceStep(decoder), features, decoding_options(beam_size=beam_size)), vocab, grid)
    for b, (result, reference) in enumerate(zip(results, expected, strict=True)):
        assert np.array_equal(result.grid_attention, layer_maps[b].numpy())
        # the model's maps to float rounding (its weights require gradients: torch multiplies in another order)
        np.testing.assert_allclose(result.grid_attention, maps[b].numpy(), rtol=0, atol=1e-5)
        assert result.words == reference.words and result.score == pytest.approx(reference.score, abs=1e-5)
        np.testing.assert_allclose(result.attention, reference.attention, atol=1e-5)
