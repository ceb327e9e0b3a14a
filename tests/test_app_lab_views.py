"""The web app's views of the attention lab's variants (app/lab_views.py), run headless with
Streamlit's AppTest on small variant models built here (random weights, saved with
save_pretrained): a local attention model, a visual sentinel model and a grid self-attention one
go through the path a user takes (pick the model, upload a photo)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest
from test_app import APP, encoded, save_tiny_model, texts, upload  # pytest puts tests/ on sys.path

from app import lab_views
from captioner import Captioner, CaptionResult, ModelConfig
from captioner.viz.render import HeatmapStyle

TINY = dict(embed_dim=16, hidden_dim=16, attention_dim=16, max_len=6)
# The lab's variants as the models a user would pick; "sentinel" attends by location and its
# sentinel's own score is pushed up, so every word gives most of its attention to the sentinel.
VARIANTS = {
    "local": dict(local_sigma=1.5),
    "sentinel": dict(sentinel=True, attention="location"),
    "selfattn": dict(grid_self_attention_heads=2),
}


def save_variant_models(folder, vocab) -> dict[str, object]:
    """The tiny plain model and one tiny model per variant, saved under `folder`."""
    paths = {"tiny": save_tiny_model(folder, vocab)}
    for name, fields in VARIANTS.items():
        torch.manual_seed(0)
        captioner = Captioner.from_config(ModelConfig(**TINY, **fields), vocab)
        if name == "sentinel":
            with torch.no_grad():
                captioner.model.decoder.sentinel.location_score.bias.fill_(30.0)
        paths[name] = captioner.save_pretrained(folder / name)
    return paths


@pytest.fixture(scope="module")
def variant_models(tmp_path_factory, vocab):
    folder = tmp_path_factory.mktemp("variant-models")
    return folder, save_variant_models(folder, vocab)


@pytest.fixture
def variant_app(variant_models, monkeypatch, tmp_path):
    from captioner.modeldir import directory

    monkeypatch.setattr(directory, "PRETRAINED_DIR", tmp_path / "no-shipped-models")
    monkeypatch.setenv("CAPTIONER_MODELS_DIR", str(variant_models[0]))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    return at


def pick_model(at: AppTest, name: str) -> AppTest:
    model = at.sidebar.selectbox[0]
    model.select_index(model.options.index(f"{name} (saved)")).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_local_attention_model_shows_its_gaze_path(variant_app, photos):
    pick_model(variant_app, "local")
    upload(variant_app, ("cat.png", encoded(photos["chelsea"]), "image/png"))
    shown = texts(variant_app.markdown)
    assert "gaze path" in shown
    gaze = [img for img in variant_app.image if img.captions and "centre of each word's attention window" in img.captions[0]]
    assert len(gaze) == 1
    words = variant_app.pills[0].options
    variant_app.pills[0].set_value(len(words) - 1).run()
    gaze = [img for img in variant_app.image if img.captions and "centre of each word's attention window" in img.captions[0]]
    assert gaze[0].captions[0].endswith(f"red: “{words[-1].split(' (')[0]}”")
    assert "Self-attention over the grid" not in shown and "Visual sentinel" not in shown


def test_a_sentinel_model_shows_its_shares_and_greys_words_that_did_not_look(variant_app, photos):
    pick_model(variant_app, "sentinel")
    upload(variant_app, ("cat.png", encoded(photos["chelsea"]), "image/png"))
    assert "Visual sentinel" in texts(variant_app.markdown)
    (chart,) = variant_app.get("vega_lite_chart")
    assert '"sentinel share"' in chart.proto.spec
    # every word of this model gave more than half its attention to the sentinel: its map is not shown
    notes = texts(variant_app.caption)
    assert "did not look at the image" in notes and "above the 50% threshold" in notes and "greyed out" in notes
    assert "Grey bars" in notes


def test_a_grid_self_attention_model_shows_where_a_chosen_cell_looks_per_head(variant_app, photos):
    pick_model(variant_app, "selfattn")
    upload(variant_app, ("cat.png", encoded(photos["chelsea"]), "image/png"))
    heads = [img for img in variant_app.image if img.captions and img.captions[0].startswith("head ")]
    assert [img.captions[0] for img in heads] == [
        "head 1 of 2: where cell (8, 8) looks",
        "head 2 of 2: where cell (8, 8) looks",
    ]
    before = [img.value for img in heads]
    row = next(s for s in variant_app.selectbox if s.label == "Row")
    row.set_value(0).run()
    next(s for s in variant_app.selectbox if s.label == "Column").set_value(13).run()
    assert not variant_app.exception
    heads = [img for img in variant_app.image if img.captions and img.captions[0].startswith("head ")]
    assert heads[0].captions[0] == "head 1 of 2: where cell (1, 14) looks"
    assert [img.value for img in heads] != before  # another cell, other maps


def test_the_paper_s_model_shows_none_of_the_variants(variant_app, photos):
    pick_model(variant_app, "tiny")
    upload(variant_app, ("cat.png", encoded(photos["chelsea"]), "image/png"))
    shown = texts(variant_app.markdown)
    assert not any(part in shown for part in ("gaze path", "Visual sentinel", "Self-attention over the grid"))
    assert not variant_app.get("vega_lite_chart")


def _result(**extras) -> CaptionResult:
    words = ["a", "circle"]
    attention = np.zeros((2, 2, 2), np.float32)
    attention[:, 0, 1] = 1.0
    return CaptionResult(text="a circle", words=words, attention=attention, score=-1.0, betas=np.ones(2, np.float32), **extras)


def test_word_heatmap_greys_only_words_above_the_threshold():
    from PIL import Image

    image = Image.new("RGB", (40, 40), (0, 120, 255))
    style = HeatmapStyle()
    result = _result(sentinel_shares=np.array([0.9, 0.2], np.float32))
    away, note = lab_views.word_heatmap(image, result, 0, style)
    assert note is not None and "“a” did not look at the image: 90%" in note
    pixels = np.asarray(away)
    assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()  # grey
    looked, note = lab_views.word_heatmap(image, result, 1, style)
    assert note is None and not np.array_equal(np.asarray(looked), np.asarray(image))
    assert lab_views.word_heatmap(image, _result(), 0, style)[1] is None  # no sentinel: always the map
