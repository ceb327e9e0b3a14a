"""The web app's logic, run headless with Streamlit's AppTest (no server, no browser).

The app gets a tiny random model through CAPTIONER_MODELS_DIR, and the shipped-models folder is
pointed at an empty place, so these tests see the same models whether or not trained ones ship.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from app import streamlit_app as webapp
from captioner import Captioner, CaptionResult, ModelConfig
from captioner.data.synth import generate_scene
from captioner.decoding.options import DecodingOptions
from captioner.modeldir import directory
from captioner.viz.first_word import first_naming_word

APP = str(Path(webapp.__file__))


def save_tiny_model(folder: Path, vocab) -> Path:
    """A small random model saved as `folder`/tiny, the same every time (also used by the browser test)."""
    torch.manual_seed(0)
    config = ModelConfig(embed_dim=16, hidden_dim=16, attention_dim=16, max_len=6)
    return Captioner.from_config(config, vocab).save_pretrained(folder / "tiny")


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory, vocab) -> Path:
    folder = tmp_path_factory.mktemp("models")
    save_tiny_model(folder, vocab)
    return folder


@pytest.fixture
def no_shipped_models(monkeypatch, tmp_path) -> Path:
    shipped = tmp_path / "pretrained"
    monkeypatch.setattr(directory, "PRETRAINED_DIR", shipped)
    return shipped


@pytest.fixture
def app(models_dir, no_shipped_models, monkeypatch) -> AppTest:
    monkeypatch.setenv("CAPTIONER_MODELS_DIR", str(models_dir))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    return at


def encoded(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def upload(at: AppTest, *files: tuple[str, bytes, str]) -> AppTest:
    at.file_uploader[0].set_value(list(files))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def captions(at: AppTest) -> list[str]:
    """The caption shown for each image, without its quotes."""
    return [m.value[len("### “") : -1].replace("\\", "") for m in at.markdown if m.value.startswith("### “")]


def texts(elements) -> str:
    return "\n".join(e.value for e in elements)


def test_no_model_says_how_to_get_one(tmp_path, no_shipped_models, monkeypatch):
    monkeypatch.setenv("CAPTIONER_MODELS_DIR", str(tmp_path / "empty"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert "No captioning model" in texts(at.warning)
    help_text = texts(at.markdown)
    assert "captioner demo" in help_text and "runs/demo/model" in help_text and "CAPTIONER_MODELS_DIR" in help_text
    assert len(at.file_uploader) == 0  # nothing to upload to before a model exists


def test_lists_shipped_models_first_then_saved_model_directories(tmp_path, models_dir, no_shipped_models, monkeypatch):
    for name in ("hard", "objects", "shapes"):
        shutil.copytree(models_dir / "tiny", no_shipped_models / name)
    folder = tmp_path / "models"
    shutil.copytree(models_dir / "tiny", folder / "mine")
    (folder / "half-written").mkdir()
    (folder / "half-written" / "config.json").write_text("{}")  # not a whole model: not offered
    (folder / "notes.txt").write_text("not a model")
    monkeypatch.setenv("CAPTIONER_MODELS_DIR", str(folder))

    choices = webapp.available_models(folder)
    assert [c.label for c in choices] == ["objects (shipped)", "shapes (shipped)", "hard (shipped)", "mine (saved)"]
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert at.sidebar.selectbox[0].options == [c.label for c in choices]
    assert at.sidebar.selectbox[0].value.path == no_shipped_models / "objects"  # the default model comes first


def test_page_says_what_the_model_was_trained_on(app):
    notice = texts(app.info)
    assert "not recorded" in notice  # the tiny test model has no trained_on
    assert "COCO or Flickr" in notice and "photographed objects" in notice
    assert not app.expander or all("objects this model knows" not in e.label for e in app.expander)


def test_page_lists_the_objects_a_model_knows(tmp_path, models_dir, no_shipped_models, monkeypatch):
    folder = tmp_path / "models"
    shutil.copytree(models_dir / "tiny", folder / "objects-model")
    (folder / "objects-model" / "objects.json").write_text(
        json.dumps(
            {
                "objects": [
                    {"name": "tiger", "category": "animal", "synonyms": []},
                    {"name": "garbage truck", "category": "vehicle", "synonyms": ["truck"]},
                ]
            }
        )
    )
    (folder / "objects-model" / "README.md").write_text("# A model card\n\nTrained on stamps.")
    monkeypatch.setenv("CAPTIONER_MODELS_DIR", str(folder))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert "It knows 2 kinds of objects" in texts(at.info)
    labels = [e.label for e in at.expander]
    assert "The 2 objects this model knows" in labels and "About this model (its model card)" in labels
    listed = texts(at.markdown)
    assert "**animal**: tiger" in listed and "**vehicle**: garbage truck" in listed and "Trained on stamps." in listed


def test_captions_an_uploaded_photo_and_a_generated_scene(app, models_dir, photos):
    cat = encoded(photos["chelsea"], "JPEG")
    scene = encoded(generate_scene(7).image)
    upload(app, ("cat.jpg", cat, "image/jpeg"), ("scene.png", scene, "image/png"))

    # The app shows exactly what the library says, decoded as the sidebar says (beam 3, model's max_len).
    expected = Captioner.from_pretrained(models_dir / "tiny").caption([cat, scene], beam_size=3, n_best=3)
    assert captions(app) == [r.text for r in expected]
    assert [h.value for h in app.subheader] == ["cat\\.jpg", "scene\\.png"]
    assert len(app.pills) == 2 and app.pills[0].value == 0
    shown = texts(app.markdown) + texts(app.caption)
    assert shown.count("Other beams") == 2 and shown.count("Captioned in") == 2
    assert f"**score {expected[0].score:.3f}**" in shown
    urls = [url for image in app.image for url in image.value]
    assert sum(url.endswith(".gif") for url in urls) == 2  # the animation stays a GIF
    labels = [b.proto.label for b in app.download_button]
    assert labels == 2 * ["Download the grid (PNG)", "Download the animation (GIF)", "Download caption and maps (JSON)"]


def test_word_selector_shows_that_words_attention(app, photos):
    upload(app, ("cat.png", encoded(photos["chelsea"]), "image/png"))
    pills = app.pills[0]
    n = len(pills.options)
    assert len(set(pills.options)) == n  # repeated words get distinct buttons
    first = first_naming_word(captions(app)[0].split())
    assert app.image[0].captions[0].endswith(f"word {first + 1} of {n}")  # the first word that names something
    pills.set_value(n - 1).run()
    assert app.image[0].captions[0].endswith(f"word {n} of {n}")
    app.pills[0].set_value(None).run()  # clicking the selected word again keeps it selected
    assert app.pills[0].value == n - 1 and app.image[0].captions[0].endswith(f"word {n} of {n}")


def test_bad_uploads_are_explained_and_the_good_one_still_captioned(app, photos):
    good = encoded(photos["coffee"])
    huge = encoded(Image.new("L", (7000, 6000)))  # 42 MP: a small file, too many pixels to decode
    upload(
        app,
        ("notes.png", b"this is not an image", "image/png"),
        ("cut.png", good[: len(good) // 2], "image/png"),
        ("empty.jpg", b"", "image/jpeg"),
        ("huge.png", huge, "image/png"),
        ("coffee.png", good, "image/png"),
    )
    errors = [e.value for e in app.error]
    assert len(errors) == 4
    for error, name, reason in zip(
        errors, ("notes", "cut", "empty", "huge"), ("not a recognised image", "truncated", "empty", "too large")
    ):
        assert error.startswith(f"**{name}\\.") and reason in error and "other images are not affected" in error
    assert len(captions(app)) == 1 and len(app.pills) == 1


def test_decoding_options(app, photos):
    upload(app, ("cat.png", encoded(photos["chelsea"]), "image/png"))
    app.sidebar.slider[0].set_value(4).run()  # beam size
    other_beams = next(m.value for m in app.markdown if m.value.startswith("**Other beams**"))
    assert other_beams.count("\n- ") == 3

    app.sidebar.radio[0].set_value("Greedy").run()
    assert app.sidebar.slider[0].disabled  # the beam size does not apply
    assert not any(m.value.startswith("**Other beams**") for m in app.markdown)
    assert "greedy, at most 6 words" in texts(app.caption)

    app.sidebar.slider[1].set_value(2).run()  # maximum length
    assert len(captions(app)[0].split()) <= 2
    assert not app.exception


def test_a_hard_attention_model_offers_how_to_read_the_grid(tmp_path, vocab, no_shipped_models, monkeypatch, photos):
    torch.manual_seed(0)
    config = ModelConfig(embed_dim=16, hidden_dim=16, attention_dim=16, max_len=6, hard_attention=True)
    Captioner.from_config(config, vocab).save_pretrained(tmp_path / "models" / "hardy")
    monkeypatch.setenv("CAPTIONER_MODELS_DIR", str(tmp_path / "models"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    upload(at, ("cat.png", encoded(photos["chelsea"]), "image/png"))
    reads = next(r for r in at.sidebar.radio if r.label == "Hard attention reads")
    assert reads.value == "expected" and reads.options == ["the most likely location", "all locations, weighted (expected context)"]
    assert not any("hard attention reads" in t for t in texts(at.caption))  # the default goes unsaid
    reads.set_value("argmax").run()
    assert not at.exception and "hard attention reads the most likely location" in texts(at.caption)


def test_the_first_word_shown_names_something_not_a(app, photos, monkeypatch):
    words = "a picture of two small blue stars".split()

    def scripted(self, images, *args, **kwargs):
        H, W = self.config.grid_size
        attention = np.full((len(words), H, W), 1.0 / (H * W), np.float32)
        return [CaptionResult(text=" ".join(words), words=words, attention=attention, score=-0.5, betas=np.ones(len(words), np.float32))]

    monkeypatch.setattr(Captioner, "caption", scripted)
    upload(app, ("scene.png", encoded(generate_scene(3).image), "image/png"))
    assert app.pills[0].value == 6 and app.image[0].captions[0] == "attention for “stars”, word 7 of 7"


def test_a_soft_model_has_no_hard_attention_choice(app):
    assert not any(r.label == "Hard attention reads" for r in app.sidebar.radio)


def test_int8_decoding_is_a_choice_on_the_cpu(app, photos, monkeypatch):
    loaded = []
    from_pretrained = Captioner.from_pretrained.__func__

    def recorded(cls, path=None, *args, **kwargs):
        captioner = from_pretrained(cls, path, *args, **kwargs)
        loaded.append((captioner.runtime.int8, captioner.runtime.onnx))
        return captioner

    monkeypatch.setattr(Captioner, "from_pretrained", classmethod(recorded))
    upload(app, ("cat.png", encoded(photos["chelsea"]), "image/png"))
    assert "int8" not in texts(app.caption)
    assert "ONNX Runtime" in texts(app.caption)  # on a CPU the float model decodes there (the same captions)
    faster = next(t for t in app.sidebar.toggle if t.label == "Faster decoding (int8)")
    assert faster.value is False
    faster.set_value(True).run()
    assert not app.exception and "int8 decoding" in texts(app.caption) and "ONNX Runtime" in texts(app.caption)
    assert (True, True) in loaded  # an int8 copy of the model captions now, on ONNX Runtime


def test_heatmap_options_redraw_the_pictures(app, photos):
    upload(app, ("cat.png", encoded(photos["chelsea"]), "image/png"))
    before = [image.value for image in app.image]
    app.sidebar.slider[2].set_value(0.9).run()  # opacity
    app.sidebar.selectbox[1].set_value("viridis").run()
    app.sidebar.selectbox[2].set_value("nearest").run()
    app.sidebar.slider[3].set_value(1.0).run()  # extra blur
    assert not app.exception
    after = [image.value for image in app.image]
    assert len(after) == len(before) and all(a != b for a, b in zip(after, before))


def test_bundled_samples_hold_photos_and_scenes_and_caption(app):
    samples = app.multiselect[0].options
    assert all(any(s.startswith(kind) for s in samples) for kind in ("photo-", "objects-", "scene-"))
    for name in samples:  # every bundled sample is a readable image
        webapp.load_image(webapp.SAMPLES_DIR / name, max_pixels=webapp.MAX_PIXELS)
    app.multiselect[0].set_value([samples[0], samples[-1]]).run()
    assert not app.exception and not app.error
    assert len(captions(app)) == 2


def test_a_caption_with_no_words_is_shown_without_heatmaps(app, models_dir, tmp_path, monkeypatch, photos):
    captioner = Captioner.from_pretrained(models_dir / "tiny")
    with torch.no_grad():
        captioner.model.decoder.out.bias[captioner.vocab.end_id] = 1e4  # ends every caption at once
    folder = tmp_path / "models"
    captioner.save_pretrained(folder / "mute")
    monkeypatch.setenv("CAPTIONER_MODELS_DIR", str(folder))
    app.run()
    upload(app, ("cat.png", encoded(photos["chelsea"]), "image/png"))
    assert "### (empty caption)" in texts(app.markdown)
    assert len(app.pills) == 0 and app.image[0].captions == ["the image"]
    assert len(app.download_button) == 3


def test_json_download_holds_caption_and_maps(small_captioner, photos):
    (result,) = small_captioner.caption([photos["rocket"]], beam_size=2, n_best=2)
    model = webapp.ModelChoice("tiny (saved)", Path("models/tiny"))
    record = json.loads(webapp.result_json("rocket.jpg", model, DecodingOptions(beam_size=2, n_best=2, max_len=10), result))
    assert record["image"] == "rocket.jpg" and record["model"] == "tiny (saved)" and record["decoding"]["beam_size"] == 2
    assert record["caption"] == result.text and record["words"] == result.words
    assert record["grid"] == list(result.attention.shape[1:])
    assert np.array_equal(np.asarray(record["attention"], dtype=np.float32), result.attention)
    assert [a["caption"] for a in record["alternatives"]] == [t for t, _ in result.alternatives]


def test_each_model_is_loaded_once_and_reruns_do_not_caption_again(tmp_path, models_dir, no_shipped_models, monkeypatch, photos):
    """What the app promises: a model is loaded from disk once per process and shared by all
    visitors, and re-running the page (a word picked, a heatmap colour changed, another model and
    back) captions an image again only when the image or the decoding options change."""
    import streamlit as st

    folder = tmp_path / "models"
    for name in ("tiny", "other"):
        shutil.copytree(models_dir / "tiny", folder / name)
    monkeypatch.setenv("CAPTIONER_MODELS_DIR", str(folder))
    st.cache_resource.clear()
    st.cache_data.clear()
    loads, captioned = [], []
    from_pretrained, caption = Captioner.from_pretrained.__func__, Captioner.caption

    def counted_load(cls, path=None, *args, **kwargs):
        loads.append(Path(path).name)
        return from_pretrained(cls, path, *args, **kwargs)

    def counted_caption(self, images, *args, **kwargs):
        captioned.append(len(images))
        return caption(self, images, *args, **kwargs)

    monkeypatch.setattr(Captioner, "from_pretrained", classmethod(counted_load))
    monkeypatch.setattr(Captioner, "caption", counted_caption)

    visitor = AppTest.from_file(APP, default_timeout=60).run()
    assert visitor.sidebar.selectbox[0].options == ["other (saved)", "tiny (saved)"]
    upload(visitor, ("cat.png", encoded(photos["chelsea"]), "image/png"))
    assert loads == ["other"] and captioned == [1]
    visitor.pills[0].set_value(1).run()  # another word
    visitor.sidebar.selectbox[1].set_value("viridis").run()  # another colour map
    assert loads == ["other"] and captioned == [1]
    visitor.sidebar.slider[0].set_value(2).run()  # other decoding options: captioned again, same model
    assert loads == ["other"] and captioned == [1, 1]
    visitor.sidebar.selectbox[0].select_index(1).run()  # the other model: loaded once
    visitor.sidebar.selectbox[0].select_index(0).run()  # and back: nothing loaded or captioned again
    assert not visitor.exception and loads == ["other", "tiny"] and captioned == [1, 1, 1]
    second = AppTest.from_file(APP, default_timeout=60).run()  # another visitor shares the loaded models
    assert not second.exception and loads == ["other", "tiny"]


def test_a_malformed_model_says_cannot_load_it(tmp_path, models_dir, no_shipped_models, monkeypatch):
    # A hand-edited config.json (a text where a number belongs) raised TypeError in the page (issue 12).
    folder = tmp_path / "models"
    shutil.copytree(models_dir / "tiny", folder / "broken")
    config = json.loads((folder / "broken" / "config.json").read_text())
    config["hidden_dim"] = "512"
    (folder / "broken" / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("CAPTIONER_MODELS_DIR", str(folder))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert "Cannot load this model" in texts(at.error) and "hidden_dim" in texts(at.error)


def test_the_first_page_does_not_wait_for_the_model(models_dir, no_shipped_models, monkeypatch, photos):
    """The page is drawn from the model's config.json while its weights load in the background;
    a caption waits for them (with a progress bar) only when an image is there."""
    import threading

    import streamlit as st

    st.cache_resource.clear()
    release = threading.Event()
    from_pretrained = Captioner.from_pretrained.__func__

    def slow(cls, *args, **kwargs):
        release.wait(60)
        return from_pretrained(cls, *args, **kwargs)

    monkeypatch.setattr(Captioner, "from_pretrained", classmethod(slow))
    monkeypatch.setenv("CAPTIONER_MODELS_DIR", str(models_dir))
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception and "attention over a 14×14 grid" in texts(at.sidebar.caption)
    assert "was trained on" in texts(at.info) and not release.is_set()
    release.set()
    upload(at, ("cat.png", encoded(photos["chelsea"]), "image/png"))
    assert len(captions(at)) == 1


@pytest.mark.integration
def test_every_shipped_model_and_menu_choice_captions_without_a_traceback(monkeypatch):
    """Each shipped model (with and without int8) through the app's menus, on a sample of its own
    kind: no exception and no error on the page, and the float model's caption is the library's."""
    monkeypatch.delenv("CAPTIONER_MODELS_DIR", raising=False)
    at = AppTest.from_file(APP, default_timeout=300).run()
    labels = at.sidebar.selectbox[0].options
    assert labels[:3] == ["objects (shipped)", "shapes (shipped)", "hard (shipped)"]
    samples = {"objects": "objects-1.jpg", "shapes": "scene-1.png", "hard": "scene-2.png"}
    for index, name in enumerate(("objects", "shapes", "hard")):
        at.sidebar.selectbox[0].select_index(index).run()
        at.multiselect[0].set_value([samples[name]]).run()
        assert not at.exception and not at.error, (name, [e.value for e in at.exception])
        expected = Captioner.from_pretrained(name, device="cpu").caption(webapp.SAMPLES_DIR / samples[name])[0].text
        assert captions(at) == [expected], name
        faster = next(t for t in at.sidebar.toggle if t.label == "Faster decoding (int8)")
        faster.set_value(True).run()
        assert not at.exception and not at.error and len(captions(at)) == 1, name
        assert "int8 decoding" in texts(at.caption)
        next(t for t in at.sidebar.toggle if t.label == "Faster decoding (int8)").set_value(False).run()


def test_the_app_imports_without_torch():
    """The first page needs only config.json files; torch (seconds to import) and the model load in a
    background thread (test_the_first_page_does_not_wait_for_the_model)."""
    import os
    import subprocess
    import sys

    probe = "import sys, app.streamlit_app; print(sorted(m for m in ('torch', 'timm', 'onnxruntime', 'captioner.pipeline') if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(APP).parents[1],
        env={**os.environ, "PYTHONPATH": str(Path(APP).parents[1])},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_a_model_card_linking_outside_the_folder_is_never_shown(tmp_path, models_dir, no_shipped_models, monkeypatch):
    # A README.md symlinked at the password file or /proc/self/environ was shown to every visitor (issue 25).
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET_KEY=hunter2")
    folder = tmp_path / "models"
    shutil.copytree(models_dir / "tiny", folder / "linked")
    (folder / "linked" / "README.md").symlink_to(secret)
    monkeypatch.setenv("CAPTIONER_MODELS_DIR", str(folder))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    # the first page reads only config.json (the weights load in the background): the card is refused
    # where it would be shown, and loading the model refuses the folder too
    assert "outside the model folder" in texts(at.warning) + texts(at.error)
    shown = texts(at.markdown) + texts(at.error) + texts(at.info) + texts(at.warning)
    assert "hunter2" not in shown
