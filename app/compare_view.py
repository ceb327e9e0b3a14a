"""The web app's compare view: two to four models caption one image; their captions side by side,
and one word's heatmaps next to each other, stepping together through the words the captions share
(a word one caption lacks is said to be missing there).

The page's own pieces (model list, loading and captioning with their caches, markdown escaping)
are handed in by app/streamlit_app.py, so this module holds no second cache of models.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from captioner import CaptionResult, CheckpointError, DecodingOptions, ImageLoadError
from captioner.viz.first_word import first_naming_word
from captioner.viz.greying import greyed
from captioner.viz.render import HeatmapStyle

if __package__:  # imported as app.compare_view (the tests); `streamlit run` puts app/ itself on sys.path
    from app.lab_views import word_heatmap
else:
    from lab_views import word_heatmap

MIN_MODELS, MAX_MODELS = 2, 4


@dataclass(frozen=True)
class WordStep:
    """One step of the shared word slider: a word (its `occurrence`-th time in a caption) and
    where it stands in each caption (None where that caption does not have it)."""

    word: str
    occurrence: int
    positions: tuple[int | None, ...]

    @property
    def shared(self) -> bool:
        return all(p is not None for p in self.positions)

    def label(self) -> str:
        name = self.word if self.occurrence == 1 else f"{self.word} ({self.occurrence})"
        if self.shared:
            return name
        return f"{name}: in {sum(p is not None for p in self.positions)} of {len(self.positions)} captions"


def word_steps(captions: Sequence[Sequence[str]]) -> list[WordStep]:
    """The words of all `captions` as steps: the k-th "circle" of one caption goes with the k-th
    "circle" of every other. Ordered by where the word stands on average in the captions that have
    it (as a fraction of each caption's length), so the steps run along all captions at once."""
    found: dict[tuple[str, int], list[int | None]] = {}
    for c, words in enumerate(captions):
        seen: Counter[str] = Counter()
        for position, word in enumerate(words):
            seen[word] += 1
            found.setdefault((word, seen[word]), [None] * len(captions))[c] = position

    def place(item: tuple[tuple[str, int], list[int | None]]) -> float:
        positions = item[1]
        spots = [(p + 0.5) / len(captions[c]) for c, p in enumerate(positions) if p is not None]
        return sum(spots) / len(spots)

    ordered = sorted(found.items(), key=place)  # stable: ties keep the order of first appearance
    return [WordStep(word, occurrence, tuple(positions)) for (word, occurrence), positions in ordered]


def wanted() -> bool:
    """The page's switch between one model and the compare view."""
    return st.toggle(
        "Compare models side by side",
        key="compare-mode",
        help="Two to four models caption one image; step through the words their captions share "
        "and see each model's heatmap for the same word next to each other.",
    )


def show(
    models: Sequence[Any],
    first: Any,
    decoding: DecodingOptions,
    style: HeatmapStyle,
    captioned: Callable,
    samples_dir: Path,
    sample_suffixes: Sequence[str],
    display_side: int,
    md: Callable[[str], str],
) -> None:
    """The compare view. `models`: the page's ModelChoices (`first`: the sidebar's, whose int8 and
    naming settings apply to all); `captioned(name, data, model, decoding)` -> (captioner, image,
    result, seconds), raising CheckpointError or ImageLoadError; `md` escapes markdown."""
    if len(models) < MIN_MODELS:
        st.info("Comparing needs at least two models: only one is installed. Save another model in the models folder.")
        return
    by_path = {m.path: m for m in models}
    default = [by_path.get(first.path, models[0])]
    default.append(next(m for m in models if m not in default))
    chosen = st.multiselect(
        "Models to compare (two to four)",
        models,
        default=default,
        format_func=lambda m: m.label,
        max_selections=MAX_MODELS,
        key="compare-models",
        help="The sidebar's decoding and heatmap options apply to all of them.",
    )
    if len(chosen) < MIN_MODELS:
        st.info("Pick at least two models to compare.")
        return
    chosen = [dataclasses.replace(m, int8=first.int8, naming=first.naming) for m in chosen]
    picked = choose_one_image(samples_dir, sample_suffixes)
    if picked is None:
        st.caption("Upload an image or pick a sample to compare the models on it.")
        return
    name, data = picked
    runs = []
    for model in chosen:
        try:
            captioner, image, result, _ = captioned(name, data, model, decoding)
        except ImageLoadError as exc:
            st.error(f"**{md(name)}** cannot be captioned: {md(exc.reason)}.")
            return
        except CheckpointError as exc:
            runs.append((model, None, None, str(exc)))
            continue
        runs.append((model, captioner, (image, result), None))

    results = [run[2][1] for run in runs if run[2] is not None]
    steps = word_steps([r.words for r in results])
    step = choose_step(steps, results, key=f"{name}|{'|'.join(r.text for r in results)}")
    positions = iter(step.positions) if step is not None else None

    for (model, captioner, captioned_image, problem), column in zip(runs, st.columns(len(runs))):
        with column:
            st.markdown(f"**{md(model.label)}**")
            if problem is not None:
                st.error(f"Cannot load this model: {md(problem)}")
                continue
            image, result = captioned_image
            st.caption(describe_model(captioner.config))
            st.markdown(f"#### “{md(result.text)}”" if result.words else "#### (empty caption)")
            st.caption(f"score {result.score:.3f}")
            position = next(positions) if positions is not None else None
            show_word(image, result, step, position, style, display_side)


def choose_one_image(samples_dir: Path, sample_suffixes: Sequence[str]) -> tuple[str, bytes] | None:
    """(name, bytes) of the uploaded image, else of the picked sample, else None."""
    left, right = st.columns(2)
    upload = left.file_uploader(
        "Upload an image", type=tuple(s.lstrip(".") for s in sample_suffixes), key="compare-upload", help="One image for all the models."
    )
    samples = sorted(p.name for p in samples_dir.glob("*") if p.suffix.lower() in sample_suffixes)
    sample = right.selectbox(
        "…or pick a bundled sample", [None, *samples], format_func=lambda s: "(none)" if s is None else s, key="compare-sample"
    )
    if upload is not None:
        return upload.name, upload.getvalue()
    return (sample, (samples_dir / sample).read_bytes()) if sample is not None else None


def choose_step(steps: list[WordStep], results: list[CaptionResult], key: str) -> WordStep | None:
    """The shared word slider, starting at the first shared word that names something."""
    if not steps:
        return None
    only_shared = st.toggle(
        "Step only through words every caption has",
        value=False,
        key=f"compare-shared|{key}",
        disabled=not any(s.shared for s in steps) or all(s.shared for s in steps),
    )
    offered = [s for s in steps if s.shared] if only_shared else steps
    shared = [s for s in offered if s.shared]
    start = offered[0]
    if shared:
        start = shared[first_naming_word([s.word for s in shared])]
    if len(offered) == 1:
        st.caption(f"The one word: “{offered[0].label()}”")
        return offered[0]
    picked = st.select_slider(
        "Word (all models step together)",
        options=range(len(offered)),
        value=offered.index(start),
        format_func=lambda k: offered[k].label(),
        key=f"compare-word|{key}|{only_shared}",
    )
    step = offered[picked]
    missing = len(step.positions) - sum(p is not None for p in step.positions)
    st.caption(f"“{step.word}” is in every caption." if step.shared else f"“{step.word}” is not shared: {missing} of the captions lack it.")
    return step


def show_word(image, result: CaptionResult, step: WordStep | None, position: int | None, style: HeatmapStyle, display_side: int) -> None:
    """One model's picture for the slider's word: its heatmap, or the image greyed if its caption lacks the word."""
    shown = image.copy()
    shown.thumbnail((display_side, display_side))
    if step is None:
        st.image(shown, caption="the image", width="stretch")
        return
    if position is None:
        st.image(greyed(shown), caption=f"no “{step.word}” in this caption", width="stretch")
        return
    picture, note = word_heatmap(shown, result, position, style)
    st.image(picture, caption=f"attention for “{result.words[position]}”, word {position + 1} of {len(result.words)}", width="stretch")
    if note:
        st.caption(note)
    elif result.sentinel_shares is not None:
        st.caption(f"sentinel share {float(result.sentinel_shares[position]):.2f}: the rest of its attention is on the image")


def describe_model(config) -> str:
    """A line about how the model attends, naming the lab's variants it has."""
    kind = "hard" if config.hard_attention else "soft"
    parts = [f"{kind} {config.attention} attention, {config.grid_size[0]}×{config.grid_size[1]} grid"]
    if config.local_sigma is not None:
        parts.append(f"local (σ {config.local_sigma:g} cells; + marks the window's centre)")
    if config.sentinel:
        parts.append("visual sentinel" + (" (mixed into the word's output only)" if config.sentinel_context == "output" else ""))
    if config.grid_self_attention_heads:
        parts.append(f"grid self-attention ({config.grid_self_attention_heads} heads)")
    line = " · ".join(parts)
    if config.attention == "location":
        line += ". Location-based: its scores read only the decoder's state, never the image, so its maps are the same on any image."
    return line
