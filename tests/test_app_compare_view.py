"""The web app's compare view (app/compare_view.py): two to four models, one image, captions side
by side and one word's heatmaps stepping together. Headless with Streamlit's AppTest, on the tiny
paper's model and tiny variant models built here (random weights, saved with save_pretrained)."""

from __future__ import annotations

import shutil

import pytest
from streamlit.testing.v1 import AppTest
from test_app import APP, encoded, texts  # pytest puts tests/ on sys.path
from test_app_lab_views import save_variant_models

from app import compare_view
from app import streamlit_app as webapp
from app.compare_view import WordStep, word_steps
from captioner import Captioner
from captioner.decoding.options import DecodingOptions
from captioner.modeldir import directory


def test_word_steps_pair_the_k_th_occurrences_and_say_where_a_word_is_missing():
    first = "a red circle above a square".split()
    second = "a square below a red circle".split()
    third = "a blue circle".split()
    steps = word_steps([first, second, third])
    by_word = {(s.word, s.occurrence): s for s in steps}
    assert by_word[("a", 1)].positions == (0, 0, 0) and by_word[("a", 1)].shared
    assert by_word[("a", 2)].positions == (4, 3, None) and not by_word[("a", 2)].shared
    assert by_word[("circle", 1)].positions == (2, 5, 2)
    assert by_word[("blue", 1)].positions == (None, None, 1)
    assert by_word[("a", 2)].label() == "a (2): in 2 of 3 captions" and by_word[("circle", 1)].label() == "circle"
    assert len(steps) == len({(w, k) for words in (first, second, third) for k, w in _occurrences(words)})
    # ordered by where a word stands on average: the shared first "a" first
    assert steps[0] == WordStep("a", 1, (0, 0, 0))
    assert word_steps([[], []]) == []


def _occurrences(words):
    seen = {}
    for w in words:
        seen[w] = seen.get(w, 0) + 1
        yield seen[w], w


@pytest.fixture(scope="module")
def variant_models(tmp_path_factory, vocab):
    folder = tmp_path_factory.mktemp("compare-models")
    return folder, save_variant_models(folder, vocab)


@pytest.fixture
def compare_app(variant_models, monkeypatch, tmp_path) -> AppTest:
    monkeypatch.setattr(directory, "PRETRAINED_DIR", tmp_path / "no-shipped-models")
    monkeypatch.setenv("CAPTIONER_MODELS_DIR", str(variant_models[0]))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    next(t for t in at.toggle if t.label == "Compare models side by side").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def compared_captions(at: AppTest) -> list[str]:
    return [m.value[len("#### “") : -1].replace("\\", "") for m in at.markdown if m.value.startswith("#### “")]


def heatmap_captions(at: AppTest) -> list[str]:
    return [img.captions[0] for img in at.main.image if img.captions]


def test_compare_two_models_on_a_sample(compare_app, variant_models):
    models = compare_app.multiselect[0]
    assert models.label == "Models to compare (two to four)"
    assert [m.label for m in models.value] == ["local (saved)", "selfattn (saved)"]  # the sidebar's model and the next
    sample = "scene-1.png"
    compare_app.selectbox(key="compare-sample").set_value(sample).run()
    assert not compare_app.exception and not compare_app.error

    default = DecodingOptions()
    decoding = DecodingOptions(beam_size=default.beam_size, n_best=default.beam_size, max_len=6)
    expected = [
        Captioner.from_pretrained(variant_models[1][n]).caption(webapp.SAMPLES_DIR / sample, decoding)[0] for n in ("local", "selfattn")
    ]
    assert compared_captions(compare_app) == [r.text for r in expected]
    steps = word_steps([r.words for r in expected])
    slider = compare_app.select_slider[0]
    assert slider.label == "Word (all models step together)" and len(slider.options) == len(steps)
    for index in range(len(steps)):
        compare_app.select_slider[0].set_value(index).run()
        step = steps[index]
        shown = heatmap_captions(compare_app)
        assert len(shown) == 2, shown
        for result, position, caption in zip(expected, step.positions, shown):
            if position is None:
                assert caption == f"no “{step.word}” in this caption"
            else:
                assert caption == f"attention for “{step.word}”, word {position + 1} of {len(result.words)}"
        said = texts(compare_app.caption)
        assert ("is in every caption" in said) == step.shared and ("is not shared" in said) == (not step.shared)


def test_compare_four_models_including_location_based_attention_on_an_upload(compare_app, photos):
    compare_app.multiselect[0].set_value(compare_app.multiselect[0].options).run()  # all four
    compare_app.file_uploader(key="compare-upload").set_value(("cat.jpg", encoded(photos["chelsea"], "JPEG"), "image/jpeg")).run()
    assert not compare_app.exception and not compare_app.error
    assert len(compared_captions(compare_app)) == 4 and len(heatmap_captions(compare_app)) == 4
    said = texts(compare_app.caption)
    assert "Location-based: its scores read only the decoder's state, never the image" in said
    assert "visual sentinel" in said and "grid self-attention (2 heads)" in said and "local (σ 1.5 cells" in said
    # the sentinel model gives every word's attention to its sentinel: its picture is greyed, with a note
    assert "did not look at the image" in said


def test_fewer_than_two_models_is_explained(compare_app, tmp_path, monkeypatch, variant_models):
    compare_app.multiselect[0].set_value([compare_app.multiselect[0].options[0]]).run()
    assert "Pick at least two models" in texts(compare_app.info) and not compare_app.select_slider

    folder = tmp_path / "one-model"
    shutil.copytree(variant_models[1]["tiny"], folder / "tiny")
    monkeypatch.setenv("CAPTIONER_MODELS_DIR", str(folder))
    at = AppTest.from_file(APP, default_timeout=120).run()
    next(t for t in at.toggle if t.label == "Compare models side by side").set_value(True).run()
    assert not at.exception and "only one is installed" in texts(at.info)


def test_an_unreadable_upload_is_explained_once(compare_app):
    compare_app.file_uploader(key="compare-upload").set_value(("notes.png", b"not an image", "image/png")).run()
    assert not compare_app.exception
    (error,) = [e.value for e in compare_app.error]
    assert error.startswith("**notes\\.png** cannot be captioned:") and "not a recognised image" in error
    assert not compared_captions(compare_app)


def test_variant_models_shipped_in_pretrained_are_listed_after_the_named_ones(tmp_path, variant_models, monkeypatch):
    shipped = tmp_path / "pretrained"
    shutil.copytree(variant_models[1]["tiny"], shipped / "shapes")
    shutil.copytree(variant_models[1]["local"], shipped / "local-additive")
    (shipped / "detector").mkdir()  # not a captioning model: not offered
    monkeypatch.setattr(directory, "PRETRAINED_DIR", shipped)
    labels = [m.label for m in webapp.available_models(tmp_path / "no-saved-models")]
    assert labels == ["shapes (shipped)", "local-additive (shipped)"]


def test_describe_model_names_each_variant():
    from captioner import ModelConfig

    assert compare_view.describe_model(ModelConfig(grid_size=(14, 14))) == "soft additive attention, 14×14 grid"
    line = compare_view.describe_model(ModelConfig(attention="location", sentinel=True, local_sigma=2.0, grid_size=(7, 7)))
    assert "local (σ 2 cells" in line and "visual sentinel" in line and "never the image" in line and "output only" not in line
    line = compare_view.describe_model(ModelConfig(sentinel=True, sentinel_context="output", grid_size=(7, 7)))
    assert "visual sentinel (mixed into the word's output only)" in line
