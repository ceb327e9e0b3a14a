"""The web app's views of the attention lab's variants (docs/attention-lab.md), for one captioned
image: a word's heatmap (greyed out when the visual sentinel says the word did not look at the
image; with local attention's centre marked), the gaze path of local attention across the
caption, the sentinel's share per word, and where a grid cell looks in the grid self-attention.

Drawing is the library's (captioner.viz.lab, captioner.viz.greying, captioner.viz.render); this module lays out widgets.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import streamlit as st
from PIL import Image

from captioner import CaptionResult
from captioner.viz.greying import SENTINEL_THRESHOLD, greyed, looked_away
from captioner.viz.lab import draw_gaze_path, mark_centre, outline_cell
from captioner.viz.render import HeatmapStyle, overlay

HEADS_PER_ROW = 4


def word_heatmap(shown: Image.Image, result: CaptionResult, word: int, style: HeatmapStyle) -> tuple[Image.Image, str | None]:
    """The picture for word `word` and a note to show under it (or None): its heatmap over `shown`,
    with local attention's centre marked; for a word that gave most of its attention to the
    sentinel, the image greyed out and a note saying why, not the noise of its map."""
    grid = result.attention.shape[1:]
    if looked_away(result.sentinel_shares, word):
        share = float(result.sentinel_shares[word])
        note = (
            f"“{result.words[word]}” did not look at the image: {share:.0%} of its attention went to the visual "
            f"sentinel (above the {SENTINEL_THRESHOLD:.0%} threshold), so it was written from what the language "
            "model already knew. Its map over the image is greyed out instead of showing noise."
        )
        return greyed(shown), note
    picture = overlay(shown, result.attention[word], style)
    if result.centres is not None:
        picture = mark_centre(picture, result.centres[word], grid)
    return picture, None


def show_variants(shown: Image.Image, result: CaptionResult, word: int | None, style: HeatmapStyle, key: str) -> None:
    """Whatever the caption's model adds: local attention's gaze path, the sentinel's shares, the
    grid self-attention's per-cell maps. Nothing for the paper's model."""
    if not result.words:
        return
    if result.centres is not None:
        show_gaze_path(shown, result, word)
    if result.sentinel_shares is not None:
        show_sentinel_shares(result)
    if result.grid_attention is not None:
        show_grid_self_attention(shown, result, style, key)


def show_gaze_path(shown: Image.Image, result: CaptionResult, word: int | None) -> None:
    st.markdown("**Local attention: the gaze path across the caption**")
    picture, words = st.columns([3, 2])
    picture.image(
        draw_gaze_path(shown, result.centres, result.attention.shape[1:], current=word),
        caption="the centre of each word's attention window, numbered in word order"
        + (f"; red: “{result.words[word]}”" if word is not None else ""),
        width="stretch",
    )
    words.markdown("\n".join(f"{k + 1}. {w}" for k, w in enumerate(result.words)))


def show_sentinel_shares(result: CaptionResult) -> None:
    st.markdown("**Visual sentinel: how much each word came from the language model, not the image**")
    table = {
        "position": list(range(1, len(result.words) + 1)),
        "word": [f"{k + 1}. {w}" for k, w in enumerate(result.words)],
        "sentinel share": [float(s) for s in result.sentinel_shares],
    }
    bars = (
        alt.Chart(alt.Data(values=[dict(zip(table, row)) for row in zip(*table.values())]))
        .mark_bar()
        .encode(
            x=alt.X("word:N", sort=alt.SortField("position"), title=None, axis=alt.Axis(labelAngle=-40)),
            y=alt.Y("sentinel share:Q", scale=alt.Scale(domain=[0, 1]), title="sentinel share"),
            color=alt.condition(alt.datum["sentinel share"] > SENTINEL_THRESHOLD, alt.value("#9e9e9e"), alt.value("#e4572e")),
            tooltip=["word:N", alt.Tooltip("sentinel share:Q", format=".2f")],
        )
    )
    rule = alt.Chart(alt.Data(values=[{"threshold": SENTINEL_THRESHOLD}])).mark_rule(strokeDash=[4, 4]).encode(y="threshold:Q")
    st.altair_chart(bars + rule, width="stretch")
    away = [w for k, w in enumerate(result.words) if looked_away(result.sentinel_shares, k)]
    st.caption(
        f"Grey bars: above the {SENTINEL_THRESHOLD:.0%} threshold, the word mostly did not look at the image "
        f"(its heatmap is greyed out){': ' + ', '.join(f'“{w}”' for w in away) if away else '; no word here'}. "
        "This share (Lu et al.'s β̂) is not the gate β of the grid below: β scales how loud the image's context is."
    )


def show_grid_self_attention(shown: Image.Image, result: CaptionResult, style: HeatmapStyle, key: str) -> None:
    heads = result.grid_attention.shape[0]
    H, W = result.attention.shape[1:]
    st.markdown("**Self-attention over the grid: pick a cell and see where it looks, per head**")
    left, right = st.columns(2)
    row = left.selectbox("Row", range(H), index=H // 2, format_func=lambda r: f"{r + 1} of {H}", key=f"cell-row|{key}")
    column = right.selectbox("Column", range(W), index=W // 2, format_func=lambda c: f"{c + 1} of {W}", key=f"cell-column|{key}")
    maps = result.cell_attention(row, column)
    for start in range(0, heads, HEADS_PER_ROW):
        for head, place in zip(range(start, min(heads, start + HEADS_PER_ROW)), st.columns(HEADS_PER_ROW)):
            picture = outline_cell(overlay(shown, maps[head], style), row, column, (H, W))
            place.image(picture, caption=f"head {head + 1} of {heads}: where cell ({row + 1}, {column + 1}) looks", width="stretch")
    st.caption(
        "Before decoding, each cell of the encoder's grid is refined by attending to the others "
        "(one Transformer encoder layer); the outlined cell's weights over the grid, one map per head."
    )


def sentinel_shares_text(result: CaptionResult) -> str:
    """The shares as one line, for a compact view (the compare view)."""
    return " · ".join(f"{w} {s:.2f}" for w, s in zip(result.words, np.asarray(result.sentinel_shares, dtype=float)))
