"""The web app: upload images (or pick bundled samples), read each caption and see where the model
looked for every word.

Run it from the repository root, so that .streamlit/config.toml (upload size limit) is read:

    streamlit run app/streamlit_app.py

Models offered: the shipped ones in captioner/pretrained/ and the saved model directories directly
under CAPTIONER_MODELS_DIR (default ./models). Visitors pick from that list; they never type a path,
so nobody can make the server load files from anywhere else.

All the work is done by the library (its public surface: `captioner`'s names, captioner.viz, ...);
this file only lays out widgets and caches results.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import re
import threading
import time
import types
from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st
from PIL import Image

from captioner import HARD_CONTEXTS, CaptionResult, CheckpointError, DecodingOptions, ImageLoadError, ModelConfig, load_image
from captioner.data.objects import KNOWN_OBJECTS_FILE, ObjectsDataError, known_objects
from captioner.modeldir import directory
from captioner.modeldir.directory import CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE
from captioner.modeldir.folder_files import CARD_FILE, read_model_text
from captioner.viz.first_word import first_naming_word
from captioner.viz.render import HeatmapStyle, overlay, render_heatmaps

if __package__:  # imported as app.streamlit_app (the tests); `streamlit run` puts app/ itself on sys.path
    from app import compare_view, lab_views
else:
    import compare_view
    import lab_views

if TYPE_CHECKING:  # imported where a model is loaded, in the background: torch takes seconds to import
    from captioner import Captioner

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "data" / "samples"
SAMPLE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")
UPLOAD_TYPES = tuple(s.lstrip(".") for s in SAMPLE_SUFFIXES)
# Below load_image's default (100 MP): one decoded 40 MP photo takes 120 MB, and a server decodes
# images for several visitors at once. The limit on bytes is server.maxUploadSize in
# .streamlit/config.toml; this one catches small files that declare huge dimensions.
MAX_PIXELS = 40_000_000
# The per-word overlay is redrawn whenever a word or a heatmap option changes: drawing it on a copy
# this big at most keeps that instant for big photos (the browser shows it smaller anyway).
DISPLAY_SIDE = 640
COLORMAPS = ("jet", "turbo", "viridis", "inferno", "magma", "gray")
SMOOTHING = types.MappingProxyType({"bicubic": "smooth (bicubic)", "bilinear": "linear", "nearest": "none: show the grid cells"})


HARD_CONTEXT_LABELS = {"argmax": "the most likely location", "expected": "all locations, weighted (expected context)"}


def describe(decoding: DecodingOptions, int8: bool = False, onnx: bool = False) -> str:
    method = "greedy" if decoding.beam_size == 1 else f"beam search, beam {decoding.beam_size}"
    extras = [name for name, on in (("no repeated words", decoding.block_repeats), ("no repeated trigrams", decoding.block_trigrams)) if on]
    if decoding.length_penalty != DecodingOptions().length_penalty:
        extras.append(f"length penalty {decoding.length_penalty:g}")
    if decoding.hard_context != DecodingOptions().hard_context:
        extras.append(f"hard attention reads {HARD_CONTEXT_LABELS[decoding.hard_context]}")
    if int8:
        extras.append("int8 decoding")
    if onnx:
        extras.append("encoder and decoding step on ONNX Runtime")
    return ", ".join([method, f"at most {decoding.max_len} words", *extras])


@dataclass(frozen=True)
class ModelChoice:
    label: str
    path: Path
    int8: bool = False  # decode with int8 projections (Captioner's int8; CPU only)
    naming: bool = True  # name objects from where the model looked (Captioner.from_pretrained's naming)


# ------------------------------------------------------------------------------------------------
# Models


def models_folder() -> Path:
    return Path(os.environ.get("CAPTIONER_MODELS_DIR", "models"))


def _model_dirs(folder: Path) -> list[Path]:
    """Directories directly under `folder` that hold a saved model (the files save_pretrained writes)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and all((p / f).is_file() for f in (CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE)))


def available_models(folder: Path) -> list[ModelChoice]:
    """The shipped models that are installed (the default first, then any other model directory
    shipped in captioner/pretrained/, such as the attention lab's variants), then the saved ones under `folder`."""
    shipped = [ModelChoice(f"{name} (shipped)", directory.default_model_dir(name)) for name in directory.shipped_models()]
    listed = {m.path for m in shipped}
    shipped += [ModelChoice(f"{p.name} (shipped)", p) for p in _model_dirs(directory.PRETRAINED_DIR) if p not in listed]
    return shipped + [ModelChoice(f"{p.name} (saved)", p) for p in _model_dirs(folder)]


@dataclass
class ModelLoading:
    """A model being loaded in a background thread, and how far it has got (for the progress bar)."""

    future: Future = field(default_factory=Future)
    stage: str = "Starting…"
    fraction: float = 0.0

    def run(self, model_dir: str, int8: bool, naming: bool) -> None:
        try:
            import torch

            from captioner import Captioner

            onnx = not torch.cuda.is_available()
            self.stage, self.fraction = "Reading the model's weights…", 0.2
            captioner = Captioner.from_pretrained(model_dir, int8=int8, onnx=onnx, naming=naming)
            if onnx:
                # One image through the model makes ONNX Runtime's sessions now, not at the first
                # caption: read from the disk cache, or exported on this machine's first visit.
                self.stage, self.fraction = (
                    (
                        "Preparing ONNX Runtime (on this machine's first visit the model is "
                        "exported, about 10 s; later visits read it from the cache)…"
                    ),
                    0.6,
                )
                blank = Image.new("RGB", (captioner.preprocessor.image_size, captioner.preprocessor.image_size))
                captioner.decode(captioner.encode([blank]), DecodingOptions(beam_size=1))
            self.stage, self.fraction = "Ready", 1.0
            self.future.set_result(captioner)
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits for the model
            self.future.set_exception(exc)


@st.cache_resource(show_spinner=False, max_entries=4)
def model_loading(model_dir: str, int8: bool, naming: bool) -> ModelLoading:
    """Start loading a model in the background, once per server process, shared by all visitors
    (with int8 decoding, or without naming, another copy). The first page does not wait for it: it is drawn from the
    model's config.json while the weights load, so a visitor picks images meanwhile."""
    loading = ModelLoading()
    threading.Thread(target=loading.run, args=(model_dir, int8, naming), name="captioner-load", daemon=True).start()
    return loading


def load_captioner(model_dir: str, int8: bool, naming: bool) -> Captioner:
    """The loaded model, waiting for it with a progress bar if it is not ready. Call it with all
    arguments by position: Streamlit's cache key is the arguments as given. On a CPU the model runs
    on ONNX Runtime, faster for one image: the float model with the same captions, the int8 copy
    with the decoding step's products in int8 (the fastest; a few captions differ). Raises
    CheckpointError for a model that cannot be loaded."""
    loading = model_loading(model_dir, int8, naming)
    if not loading.future.done():
        bar = st.progress(loading.fraction, text=loading.stage)
        while not loading.future.done():
            bar.progress(loading.fraction, text=loading.stage)
            time.sleep(0.1)
        bar.empty()
    return loading.future.result()


def read_config(model_dir: Path) -> ModelConfig:
    """The model's config.json, all the first page needs (the weights load in the background).
    Raises CheckpointError naming the file and what is wrong."""
    try:
        return ModelConfig.load(model_dir / CONFIG_FILE)
    except (OSError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{model_dir / CONFIG_FILE}: {exc}") from exc


# ------------------------------------------------------------------------------------------------
# Cached work: re-running the page (a new word picked, a slider moved) must not redo it


@st.cache_data(max_entries=256, show_spinner=False)
def caption_image(
    model_dir: str, int8: bool, naming: bool, digest: str, _image: Image.Image, decoding: DecodingOptions
) -> tuple[CaptionResult, float]:
    """The caption of one image and the seconds it took. `digest` (of the image's bytes) stands
    for the image in the cache key, so picking another word or heatmap colour reuses the result."""
    captioner = load_captioner(model_dir, int8, naming)
    started = time.perf_counter()
    (result,) = captioner.caption([_image], decoding)
    return result, time.perf_counter() - started


@st.cache_data(max_entries=64, show_spinner=False)
def render_grid_and_gif(
    model_dir: str,
    int8: bool,
    digest: str,
    decoding: DecodingOptions,
    style: HeatmapStyle,
    _image: Image.Image,
    _result: CaptionResult,
    naming: bool = True,
) -> tuple[bytes, bytes]:
    """The all-words grid (PNG bytes) and the animation (GIF bytes), drawn from one fitted panel;
    the key names what `_result` came from."""
    grid, gif = render_heatmaps(_image, _result, style)
    return _png_bytes(grid), gif


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def result_json(name: str, model: ModelChoice, decoding: DecodingOptions, result: CaptionResult) -> bytes:
    """The download: the result's JSON (CaptionResult.to_json, with every word's attention map),
    with the image's name, the model and the decoding options."""
    record = {
        "image": name,
        "model": model.label,
        "int8": model.int8,
        "decoding": dataclasses.asdict(decoding),
        **result.to_json(include_attention=True),
    }
    return json.dumps(record, ensure_ascii=False).encode("utf-8")


# ------------------------------------------------------------------------------------------------
# Page pieces


def md(text: str) -> str:
    """`text` with markdown's special characters escaped: file names and captions are shown as typed."""
    return re.sub(r"([\\`*_{}\[\]()<>#+\-.!|~$])", r"\\\1", text)


def word_labels(words: list[str]) -> list[str]:
    """Button labels for the words, unique: Streamlit tells buttons apart by their labels, so a
    repeated word ("a dog and a cat") gets its occurrence number ("a", "a (2)")."""
    seen: Counter[str] = Counter()
    labels = []
    for word in words:
        seen[word] += 1
        labels.append(word if seen[word] == 1 else f"{word} ({seen[word]})")
    return labels


def colour_bar(style: HeatmapStyle) -> np.ndarray:
    """A thin strip of the overlay's colours over a light grey, from no attention (left) to the most (right)."""
    # The map at the strip's own size: nothing to interpolate, so drawing it needs no torch.
    ramp = np.tile(np.linspace(0.0, 1.0, 256), (14, 1))
    strip = overlay(Image.new("RGB", (256, 14), (225, 225, 225)), ramp, dataclasses.replace(style, sigma=0.0))
    return np.asarray(strip)


def sidebar(models: list[ModelChoice]) -> tuple[ModelChoice, ModelConfig, DecodingOptions, HeatmapStyle]:
    st.header("Model")
    model = st.selectbox(
        "Model",
        models,
        format_func=lambda m: m.label,
        label_visibility="collapsed",
        help="The shipped models, and the saved models in the server's models folder (CAPTIONER_MODELS_DIR).",
    )
    try:
        config = read_config(model.path)
    except CheckpointError as exc:
        st.error(f"Cannot load this model: {exc}")
        st.stop()
    kind = "hard" if config.hard_attention else "soft"
    st.caption(
        f"{config.encoder} encoder · {kind} {config.attention} attention over a "
        f"{config.grid_size[0]}×{config.grid_size[1]} grid · {config.vocab_size} words"
    )
    if st.toggle(
        "Faster decoding (int8)",
        help="The decoder's per-step projections in int8 (on the CPU): about twice as fast "
        "for one image; a few captions differ from the float model's (the README's Speed section measures both).",
    ):
        model = dataclasses.replace(model, int8=True)
    if (model.path / KNOWN_OBJECTS_FILE).is_file() and not st.toggle(
        "Name objects from where it looked",
        value=True,
        help="Each object word is named by the encoder's ImageNet "
        "classifier over the region the model attended to, people by a detector, places from the whole picture; "
        "off: the decoder's own words only (the names of the objects it was trained on).",
    ):
        model = dataclasses.replace(model, naming=False)

    st.header("Decoding")
    method = st.radio(
        "Method",
        ("Beam search", "Greedy"),
        horizontal=True,
        help="Greedy takes the likeliest word at each step. Beam search keeps the best few partial "
        "captions at each step and usually finds a better whole caption; it also shows the runners-up.",
    )
    default = DecodingOptions()
    beam_size = st.slider("Beam size", 2, 10, max(2, default.beam_size), disabled=method == "Greedy")
    max_len = st.slider("Maximum length (words)", 1, max(40, config.max_len), config.max_len)
    with st.expander("Decoding options"):
        length_penalty = st.slider(
            "Length penalty",
            0.0,
            2.0,
            float(default.length_penalty),
            0.1,
            help="Scores are divided by length to this power: 0 favours short captions, higher values longer ones.",
        )
        block_repeats = st.checkbox("No word twice in a row", default.block_repeats)
        block_trigrams = st.checkbox("No repeated three-word sequence", default.block_trigrams)
        hard_context = default.hard_context
        if config.hard_attention:
            hard_context = st.radio(
                "Hard attention reads",
                HARD_CONTEXTS,
                index=HARD_CONTEXTS.index(default.hard_context),
                format_func=HARD_CONTEXT_LABELS.get,
                help="This model attends to one location per word in training; "
                "decoding can read the most likely one or the attention-weighted mean of all.",
            )
    beam_size = 1 if method == "Greedy" else beam_size
    decoding = DecodingOptions(
        beam_size=beam_size,
        max_len=max_len,
        n_best=beam_size,
        length_penalty=length_penalty,
        block_repeats=block_repeats,
        block_trigrams=block_trigrams,
        hard_context=hard_context,
    )

    st.header("Heatmaps")
    default = HeatmapStyle()
    opacity = st.slider("Opacity", 0.0, 1.0, default.opacity, 0.05, help="0 shows the image only, 1 the colours only.")
    colormap = st.selectbox("Colour map", COLORMAPS, index=COLORMAPS.index(default.colormap))
    fade = st.toggle(
        "Low attention transparent",
        default.fade,
        help="On: where the model did not look, the photo keeps its own colours. Off: the colour map covers "
        "the whole photo, no attention in its coldest colour.",
    )
    smooth = st.selectbox(
        "Smoothing",
        tuple(SMOOTHING),
        index=tuple(SMOOTHING).index(default.smooth),
        format_func=SMOOTHING.get,
        help="How the model's coarse grid of attention weights is stretched over the image.",
    )
    sigma = st.slider("Extra blur (grid cells)", 0.0, 2.0, float(default.sigma), 0.25)
    style = HeatmapStyle(colormap=colormap, opacity=opacity, smooth=smooth, sigma=sigma, fade=fade)
    st.image(colour_bar(style), caption="no attention ← → most attention", width="stretch")
    return model, config, decoding, style


def show_what_the_model_knows(model: ModelChoice, config: ModelConfig) -> None:
    trained_on = config.trained_on or "not recorded in this model's config.json"
    try:
        known = known_objects(model.path)
    except ObjectsDataError as exc:
        st.warning(f"This model's list of known objects cannot be read: {exc}")
        known = None
    if known:
        names = sorted(n for group in known.values() for n in group)
        st.info(
            f"**Model {md(model.label)}** was trained on: {md(trained_on)}.  \n"
            f"It knows {len(names)} kinds of objects and animals by name (list below); for others it may "
            'name a category ("an animal", "a tool") or guess the nearest thing it knows. Photos '
            "with one clear main object work best.  \n"
            "**What it cannot do:** it knows no actions and names no colours. People, places and objects "
            'beyond its list are named by recognisers over where it looked ("Name objects from where it '
            'looked" in the sidebar), each with how sure they are; they can be wrong.'
        )
        with st.expander(f"The {len(names)} objects this model knows"):
            st.markdown("\n".join(f"- **{md(category)}**: {md(', '.join(sorted(group)))}" for category, group in sorted(known.items())))
    else:
        st.info(
            f"**Model {md(model.label)}** was trained on: {md(trained_on)}.  \n"
            'A model only describes the kind of images it was trained on: the shipped "objects" model '
            'knows photographed objects and animals, the "shapes" and "hard" models generated scenes of '
            "coloured shapes; for everyday photographs of anything, train on COCO or Flickr."
        )
    card = model.path / CARD_FILE
    if card.is_symlink() or card.exists():
        try:
            text = read_model_text(model.path, CARD_FILE)  # a regular file inside the folder, never a link out of it
        except CheckpointError as exc:
            st.warning(f"This model's card cannot be shown: {md(str(exc))}")
            return
        with st.expander("About this model (its model card)"):
            st.markdown(text)


def show_no_model_help(folder: Path) -> None:
    st.warning("No captioning model is installed yet, so there is nothing to caption with.")
    st.markdown(
        f"""
**How to get one** (about 3 minutes on a 2-core CPU):

1. Train the demo model: `captioner demo`. It writes the model to `runs/demo/model`.
2. Copy that folder into the models folder, for example `cp -r runs/demo/model {folder}/demo`,
   or start the app with `CAPTIONER_MODELS_DIR=runs/demo`, the folder holding it.
3. Reload this page.

The app lists every saved model directory (`config.json`, `vocab.json`, `model.safetensors`) directly
under the models folder, now `{folder.resolve()}` (set by `CAPTIONER_MODELS_DIR`, default `./models`),
and the shipped models in `captioner/pretrained/` once they are installed.
"""
    )


def choose_images() -> list[tuple[str, bytes]]:
    """(name, bytes) of the uploaded files and the chosen samples, without repeats."""
    left, right = st.columns(2)
    with left:
        uploads = st.file_uploader(
            "Upload images",
            type=UPLOAD_TYPES,
            accept_multiple_files=True,
            help="PNG, JPEG, WebP, BMP or GIF (its first frame). Several at once are fine.",
        )
    with right:
        samples = sorted(p.name for p in SAMPLES_DIR.glob("*") if p.suffix.lower() in SAMPLE_SUFFIXES)
        chosen = st.multiselect(
            "…or pick bundled samples",
            samples,
            help="photo-*: real photographs. objects-*: generated scenes of photographed objects, the kind "
            "of image the default model is trained on. scene-*: generated scenes of coloured shapes, for "
            "the shapes models.",
        )
    images = [(u.name, u.getvalue()) for u in uploads or []] + [(n, (SAMPLES_DIR / n).read_bytes()) for n in chosen]
    # Keyed by name and content: the same file added twice is shown once.
    return list({(name, hashlib.sha256(data).hexdigest()): (name, data) for name, data in images}.values())


def keep_a_word_selected(key: str, first: int) -> None:
    """Clicking the selected word again would unselect it (and hide the heatmap): it stays selected."""
    last = f"{key}|last"
    if st.session_state.get(key) is None:
        st.session_state[key] = st.session_state.get(last, first)
    st.session_state[last] = st.session_state[key]


def captioned(name: str, data: bytes, model: ModelChoice, decoding: DecodingOptions) -> tuple[Captioner, Image.Image, CaptionResult, float]:
    """The loaded model, the image and its caption (cached) with the seconds it took. Raises
    CheckpointError for a model that cannot be loaded, ImageLoadError for an unreadable image."""
    captioner = load_captioner(str(model.path), model.int8, model.naming)
    # A large JPEG decodes at a reduced scale, still big enough to show and to caption.
    image = load_image(data, max_pixels=MAX_PIXELS, name=name, min_side=max(DISPLAY_SIDE, captioner.preprocessor.source_side))
    digest = hashlib.sha256(data).hexdigest()
    return captioner, image, *caption_image(str(model.path), model.int8, model.naming, digest, image, decoding)


def show_image(name: str, data: bytes, model: ModelChoice, decoding: DecodingOptions, style: HeatmapStyle) -> None:
    st.subheader(md(name), anchor=False)
    try:
        captioner, image, result, seconds = captioned(name, data, model, decoding)
    except CheckpointError as exc:
        st.error(f"Cannot load this model: {exc}")
        st.stop()
    except ImageLoadError as exc:
        st.error(f"**{md(name)}** cannot be captioned: {md(exc.reason)}. The other images are not affected.")
        return
    digest = hashlib.sha256(data).hexdigest()
    key = f"{name}|{digest}|{result.text}"  # a new caption starts again at its first word

    picture, text = st.columns([3, 2])
    with text:
        st.markdown(f"### “{md(result.text)}”" if result.words else "### (empty caption)")
        word = None
        if result.words:
            labels = word_labels(result.words)
            first = first_naming_word(result.words)  # not "a": the first word whose map shows a thing
            word = st.pills(
                "Click a word to see where the model looked for it",
                range(len(labels)),
                default=first,
                format_func=labels.__getitem__,
                key=f"word|{key}",
                wrap=True,
                on_change=keep_a_word_selected,
                args=(f"word|{key}", first),
            )
        st.markdown(f"**score {result.score:.3f}**: average log-probability per word (0 = certain; lower = less sure)")
        if not result.finished:
            st.caption("The caption hit the maximum length before the model ended it.")
        if decoding.beam_size == 1:
            st.caption("Greedy decoding gives one caption; choose beam search in the sidebar to see runners-up.")
        elif len(result.alternatives) > 1:
            st.markdown("**Other beams**\n\n" + "\n".join(f"- {md(t)} ({s:.3f})" for t, s in result.alternatives[1:]))
        st.caption(
            f"Captioned in {seconds * 1000:.0f} ms on {captioner.device.type} ({describe(decoding, model.int8, captioner.runtime.onnx)})."
        )
    with picture:
        shown = image.copy()
        shown.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE))
        # Stretched to the column: small images (a 224-pixel scene) would otherwise look like thumbnails.
        if word is None:
            st.image(shown, caption="the image (no word picked)" if result.words else "the image", width="stretch")
        else:
            heatmap, note = lab_views.word_heatmap(shown, result, word, style)
            st.image(heatmap, caption=f"attention for “{result.words[word]}”, word {word + 1} of {len(result.words)}", width="stretch")
            if note:
                st.caption(note)
            from captioner import looked_here  # the model is loaded: torch is in already

            if (source := looked_here(result, word)) is not None:
                st.markdown(md(source))

    lab_views.show_variants(shown, result, word, style, key)
    grid_png, gif = render_grid_and_gif(str(model.path), model.int8, digest, decoding, style, image, result, model.naming)
    all_words, animation = st.columns([3, 1])
    all_words.image(
        grid_png,
        caption="every word's attention; β: how much the model drew on the image for that word (0 to 1)",
        width="stretch",
    )
    animation.image(gif, caption="word by word", width="stretch")

    stem = Path(name).stem or "image"
    buttons = st.columns(3)
    downloads = (
        ("Download the grid (PNG)", grid_png, f"{stem}_grid.png", "image/png"),
        ("Download the animation (GIF)", gif, f"{stem}.gif", "image/gif"),
        ("Download caption and maps (JSON)", result_json(name, model, decoding, result), f"{stem}.json", "application/json"),
    )
    # on_click="ignore": a download needs no new run of the page.
    for column, (label, payload, file_name, mime) in zip(buttons, downloads):
        column.download_button(label, payload, file_name=file_name, mime=mime, key=f"{file_name}|{key}", on_click="ignore")


def main() -> None:
    st.set_page_config(page_title="captioner: captions with visual attention", layout="wide")
    st.title("Image captions with visual attention")
    st.markdown(
        "Upload images to get a caption for each. While writing each word the model looks at parts of "
        "the image; **click a word** to see where it looked, as a heatmap over the image."
    )
    folder = models_folder()
    models = available_models(folder)
    if not models:
        show_no_model_help(folder)
        return
    with st.sidebar:
        model, config, decoding, style = sidebar(models)
    if compare_view.wanted():
        compare_view.show(models, model, decoding, style, captioned, SAMPLES_DIR, SAMPLE_SUFFIXES, DISPLAY_SIDE, md)
        return

    show_what_the_model_knows(model, config)
    images = choose_images()
    if not images:
        st.caption("Upload an image or pick a sample to start.")
    for name, data in images:
        with st.container(border=True):
            show_image(name, data, model, decoding, style)
    # Started once the page is drawn (its import of torch would slow the drawing), so the model is
    # ready, or nearly, when the visitor picks an image.
    model_loading(str(model.path), model.int8, model.naming)


# `streamlit run` executes this file as __main__; tests import it for its helpers without drawing a page.
if __name__ == "__main__":
    main()
