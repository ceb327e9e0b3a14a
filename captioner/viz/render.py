"""Per-word attention heatmaps: overlays, a labelled grid PNG, an animated GIF and raw arrays.

This is the one place where attention is drawn. `captioner inspect`, `captioner caption --heatmaps DIR`
and the web app all call these functions; nothing here parses arguments or prints.

Inputs are the image (any PIL mode, original size) and what captioning it gave: a CaptionResult
(or any object with `.words`, `.attention` (len(words), H, W), and optionally `.betas`, `.text`,
`.score` and `.sentinel_shares`).

Choices a reader of the pictures should know:
- Maps are stretched over the image by captioner.results.maps.upsample, the same function that attention
  correctness measures with (bilinear by default), so a picture shows the map the metrics score.
- Each map is shown relative to its own peak (value / max): the hottest colour is where that word
  looked most and zero attention is the coldest colour. A near-uniform map therefore looks evenly
  warm instead of having its tiny ripples stretched into fake peaks, as min-max scaling would do.
- Grid and GIF panels are squares of `panel_size` pixels. An image of another shape is letterboxed:
  scaled to fit and centred on a light grey square, aspect ratio kept, so very tall or wide images
  are not distorted. The heatmap covers only the image, not the grey bars.
- A word whose visual sentinel took most of its attention (viz/greying.py: share above
  SENTINEL_THRESHOLD) gets the image greyed instead of its map, as in the web app: its map is only
  the small rest of its attention.
- Labels sit on solid white strips under the panels, in DejaVu Sans, the font shipped inside
  matplotlib: present wherever this package runs, and unlike PIL's default font it has a β glyph.
"""

from __future__ import annotations

import dataclasses
import io
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from captioner.results import maps
from captioner.results.maps import DEFAULT_SMOOTH
from captioner.viz.greying import greyed, looked_away

__all__ = ["HeatmapStyle", "upsample", "overlay", "render_grid", "render_gif", "render_heatmaps"]

_PAPER = (255, 255, 255)  # background of label strips and header
_LETTERBOX = (225, 225, 225)  # visible square around each image: ties a panel to the label under it
_INK = (0, 0, 0)
_MUTED = (96, 96, 96)
_HIGHLIGHT = (255, 214, 0)  # box behind the current word in GIF frames


@dataclass(frozen=True)
class HeatmapStyle:
    """How heatmaps look. Pass one to any function here, or override single fields as keywords."""

    colormap: str = "jet"  # a name in matplotlib.colormaps
    opacity: float = 0.5  # weight of the heatmap colour: 0 shows the image only, 1 the colour only
    # Low attention fades to the image: a pixel's colour weighs opacity x its attention relative to
    # the peak, so the unattended parts keep the photo's own colours. False: the colour covers the
    # whole image at `opacity` (zero attention in the colormap's coldest colour, a dark-blue wash for jet).
    fade: bool = True
    smooth: str = DEFAULT_SMOOTH  # grid upsampling (captioner.results.maps): "bilinear", "bicubic" or "nearest" (blocky cells)
    sigma: float = 0.0  # extra gaussian blur in grid cells, so it looks the same at any image size
    panel_size: int = 224  # side of each square panel of the grid and of the GIF, in pixels
    columns: int = 5  # panels per row of the grid
    duration_ms: int = 800  # how long each GIF frame shows

    def __post_init__(self) -> None:
        if self.colormap not in matplotlib.colormaps:
            raise ValueError(
                f"unknown colormap {self.colormap!r}: use a name from matplotlib.colormaps, such as 'jet', 'viridis', 'inferno' or 'magma'"
            )
        _check_smooth(self.smooth, self.sigma)
        if not 0.0 <= self.opacity <= 1.0:
            raise ValueError(f"opacity must be between 0 and 1, got {self.opacity!r}")
        if not isinstance(self.panel_size, numbers.Integral) or self.panel_size < 64:
            # below 64 pixels the labels no longer fit beside the picture
            raise ValueError(f"panel_size must be an integer >= 64 (pixels), got {self.panel_size!r}")
        if not isinstance(self.columns, numbers.Integral) or self.columns < 1:
            raise ValueError(f"columns must be a positive integer, got {self.columns!r}")
        if not isinstance(self.duration_ms, numbers.Integral) or self.duration_ms < 10:
            # GIF stores delays in hundredths of a second
            raise ValueError(f"duration_ms must be an integer of at least 10, got {self.duration_ms!r}")


# ----------------------------------------------------------------------------------------------
# Maps and overlays


def upsample(
    attention_map: np.ndarray,
    size: tuple[int, int],
    smooth: str = DEFAULT_SMOOTH,
    sigma: float = 0.0,
) -> np.ndarray:
    """Stretch one (H, W) attention map to `size` = (width, height) pixels, for display.

    `smooth` picks the interpolation (captioner.results.maps.upsample); `sigma` > 0 adds a gaussian blur
    measured in grid cells. Returns float32 (height, width) scaled so the peak is 1.0; an all-zero
    map stays all zero.
    """
    _check_smooth(smooth, sigma)
    width, height = _check_size(size)
    grid = np.asarray(attention_map)
    up = maps.upsample(grid, (width, height), smooth).astype(np.float32)
    if sigma > 0:
        # Imported here: it pulls in scipy.ndimage, most of a second the default (no blur) never needs.
        from skimage.filters import gaussian

        # A squashed cell is not square in pixels, so the blur radius is converted per axis.
        cell = (height / grid.shape[0], width / grid.shape[1])
        up = gaussian(up, sigma=(sigma * cell[0], sigma * cell[1]), mode="nearest", preserve_range=True)
        up = up.astype(np.float32, copy=False)
    peak = up.max()
    if peak > 0:
        up /= peak
    return up


def overlay(
    image: Image.Image,
    attention_map: np.ndarray,
    style: HeatmapStyle | None = None,
    **options: Any,
) -> Image.Image:
    """Colour one (H, W) map with the style's colormap and blend it over `image` at the image's size.

    Options (or a HeatmapStyle): colormap, opacity, smooth, sigma. Returns a new RGB image.
    """
    style = _resolve_style(style, options)
    pixels = np.asarray(_to_rgb(image))
    return Image.fromarray(_blend(pixels, attention_map, style))


def _blend(pixels: np.ndarray, attention_map: np.ndarray, style: HeatmapStyle) -> np.ndarray:
    """Alpha-blend the coloured map over uint8 RGB `pixels` (h, w, 3); returns a new uint8 array."""
    height, width = pixels.shape[:2]
    heat = upsample(attention_map, (width, height), style.smooth, style.sigma)
    rgba = matplotlib.colormaps[style.colormap](heat, bytes=True)
    colours = rgba[..., :3]
    # The colormap's own alpha (1 for the usual maps) weighs each colour; with fade, times the
    # attention, so no attention is fully transparent. Float blend then round: opacity 0 gives the
    # image's pixels and 1 (without fade) the colormap's, exactly.
    alpha = rgba[..., 3:].astype(np.float32) / 255.0
    if style.fade:
        alpha = alpha * heat[..., None]
    opacity = style.opacity * alpha
    mixed = pixels.astype(np.float32) * (1.0 - opacity) + colours.astype(np.float32) * opacity
    return np.rint(mixed).astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# Grid and GIF


def render_grid(image: Image.Image, result: Any, style: HeatmapStyle | None = None, **options: Any) -> Image.Image:
    """A grid of panels: first the image, then each word's attention over it.

    A header above the grid holds the caption (`result.text`, else the words joined) and the score.
    Each panel is a `panel_size` square with a one-line label strip under it: "image W×H" for the
    first, the word (and "β=0.73" when the result has betas) for the others. `columns` panels per
    row; the image is min(columns, len(words) + 1) * panel_size pixels wide.
    """
    return _Drawing(image, result, style, options).grid()


def render_gif(image: Image.Image, result: Any, style: HeatmapStyle | None = None, **options: Any) -> bytes:
    """An animated GIF (looping), one frame per word: the word's heatmap over the image, and under it
    the caption so far with the current word highlighted. No words gives one frame of the image.
    Returns the GIF file's bytes.
    """
    return _Drawing(image, result, style, options).gif()


def render_heatmaps(image: Image.Image, result: Any, style: HeatmapStyle | None = None, **options: Any) -> tuple[Image.Image, bytes]:
    """render_grid and render_gif together, from one fitted panel (the image is resized once)."""
    drawing = _Drawing(image, result, style, options)
    return drawing.grid(), drawing.gif()


class _Drawing:
    """One image and its result, checked, with the image fitted once into a panel."""

    def __init__(self, image: Image.Image, result: Any, style: HeatmapStyle | None, options: dict[str, Any]) -> None:
        self.words, self.attention, self.betas = _check_inputs(result.words, result.attention, getattr(result, "betas", None))
        self.text, self.score = getattr(result, "text", None), getattr(result, "score", None)
        self.shares = _check_shares(getattr(result, "sentinel_shares", None), len(self.words))
        self.style = _resolve_style(style, options)
        self.panel = _Panel(_to_rgb(image), self.style.panel_size)

    def grid(self) -> Image.Image:
        return _draw_grid(self.panel, self.words, self.word_picture, self.betas, self.text, self.score, self.style)

    def gif(self) -> bytes:
        return _draw_gif(self.panel, self.words, self.word_picture, self.betas, self.style)

    def word_picture(self, word: int) -> Image.Image:
        """Word `word`'s panel: its heatmap, or the image greyed if it did not look at it."""
        return self.panel.grey() if looked_away(self.shares, word) else self.panel.heat(self.attention[word], self.style)


class _Panel:
    """The image fitted once into a square panel; every word's heatmap is drawn on a copy of it.

    Resizing the image once per image (not once per word) matters in batch jobs of thousands.
    """

    def __init__(self, image: Image.Image, side: int) -> None:
        margin = max(2, side // 56)  # white space between neighbouring panels in the grid
        inner = side - 2 * margin
        width, height = image.size
        scale = inner / max(width, height)
        fitted_size = (max(1, round(width * scale)), max(1, round(height * scale)))
        # reducing_gap lets PIL shrink big photos in cheap integer steps before the fine filter.
        fitted = image.resize(fitted_size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        left, top = (side - fitted_size[0]) // 2, (side - fitted_size[1]) // 2
        canvas = Image.new("RGB", (side, side), _PAPER)
        canvas.paste(_LETTERBOX, (margin, margin, side - margin, side - margin))
        canvas.paste(fitted, (left, top))
        self.side = side
        self.image_size = image.size
        self.pixels = np.asarray(canvas)
        self.box = (slice(top, top + fitted_size[1]), slice(left, left + fitted_size[0]))
        self._grey: Image.Image | None = None

    def plain(self) -> Image.Image:
        return Image.fromarray(self.pixels)

    def heat(self, attention_map: np.ndarray, style: HeatmapStyle) -> Image.Image:
        out = self.pixels.copy()
        out[self.box] = _blend(self.pixels[self.box], attention_map, style)
        return Image.fromarray(out)

    def grey(self) -> Image.Image:
        """The panel with its image greyed (viz/greying.py), made once for all the words that did not look."""
        if self._grey is None:
            out = self.pixels.copy()
            out[self.box] = np.asarray(greyed(Image.fromarray(self.pixels[self.box])))
            self._grey = Image.fromarray(out)
        return self._grey


def _draw_grid(panel, words, word_picture, betas, text, score, style) -> Image.Image:
    fonts = _Fonts(style.panel_size)
    side, pad, line = panel.side, fonts.pad, fonts.line
    n_panels = len(words) + 1
    columns = min(style.columns, n_panels)
    rows = math.ceil(n_panels / columns)
    width = columns * side

    caption = text if text is not None else " ".join(words)
    tokens = [_ellipsize(t, fonts.regular, width - 2 * pad) for t in caption.split()]
    widths = [fonts.regular.getlength(t) for t in tokens]
    wrapped = _wrap(widths, fonts.space, width - 2 * pad)
    caption_lines = [" ".join(tokens[i] for i in ids) for ids in wrapped]
    header = caption_lines + ([f"score {score:.3f}"] if score is not None else [])
    header_h = len(header) * line + 2 * pad if header else 0
    cell_h = side + line + 2 * pad

    grid = Image.new("RGB", (width, header_h + rows * cell_h), _PAPER)
    draw = ImageDraw.Draw(grid)
    for k, row_text in enumerate(header):
        is_score = score is not None and k == len(header) - 1
        draw.text((pad, pad + k * line), row_text, font=fonts.regular, fill=_MUTED if is_score else _INK)

    for k in range(n_panels):
        x, y = (k % columns) * side, header_h + (k // columns) * cell_h
        if k == 0:
            picture, label = panel.plain(), "image"
            note = f"{panel.image_size[0]}{fonts.times}{panel.image_size[1]}"
        else:
            picture, label = word_picture(k - 1), words[k - 1]
            note = f"{fonts.beta}={betas[k - 1]:.2f}" if betas is not None else ""
        grid.paste(picture, (x, y))
        _label(draw, fonts, x, y + side, side, label, note)
    return grid


def _draw_gif(panel, words, word_picture, betas, style) -> bytes:
    fonts = _Fonts(style.panel_size)
    side, pad, line = panel.side, fonts.pad, fonts.line
    room = side - 2 * pad
    tokens = [_ellipsize(w, fonts.bold, room) for w in words]
    regular_w = [fonts.regular.getlength(t) for t in tokens]
    bold_w = [fonts.bold.getlength(t) for t in tokens]

    def layout(t: int) -> list[list[int]]:
        # Caption so far: earlier words in regular, word t (the last) in bold.
        return _wrap(regular_w[:t] + bold_w[t : t + 1], fonts.space, room)

    # One status line plus the longest caption so far: every frame gets the same size.
    n_lines = 1 + max((len(layout(t)) for t in range(len(words))), default=0)
    strip_h = n_lines * line + 2 * pad

    frames = []
    for t in range(max(1, len(words))):
        if words:
            frame_panel = word_picture(t)
            status = f"word {t + 1} of {len(words)}"
            if betas is not None:
                status += f"   {fonts.beta}={betas[t]:.2f}"
        else:
            frame_panel, status = panel.plain(), "no words"
        frame = Image.new("RGB", (side, side + strip_h), _PAPER)
        frame.paste(frame_panel, (0, 0))
        draw = ImageDraw.Draw(frame)
        draw.text((pad, side + pad), status, font=fonts.regular, fill=_MUTED)
        for k, ids in enumerate(layout(t) if words else []):
            x, y = pad, side + pad + (k + 1) * line
            for i in ids:
                if i == t:  # the word this frame's heatmap belongs to
                    draw.rectangle((x - 2, y, x + bold_w[i] + 2, y + line - 1), fill=_HIGHLIGHT)
                    draw.text((x, y), tokens[i], font=fonts.bold, fill=_INK)
                    x += bold_w[i] + fonts.space
                else:
                    draw.text((x, y), tokens[i], font=fonts.regular, fill=_INK)
                    x += regular_w[i] + fonts.space
        # Quantise here with the fast octree: PIL's default for RGB frames (median cut) is ~10x slower
        # and looks the same on heatmaps, which matters when a batch job writes thousands of GIFs.
        frames.append(frame.quantize(256, method=Image.Quantize.FASTOCTREE))

    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=style.duration_ms, loop=0)
    return buffer.getvalue()


class _Fonts:
    """Fonts and text metrics scaled to the panel size."""

    def __init__(self, panel_size: int) -> None:
        size = max(11, round(panel_size / 15))
        ttf = Path(matplotlib.get_data_path(), "fonts", "ttf")
        try:
            self.regular = ImageFont.truetype(str(ttf / "DejaVuSans.ttf"), size)
            self.bold = ImageFont.truetype(str(ttf / "DejaVuSans-Bold.ttf"), size)
            self.beta, self.times = "β", "×"
        except OSError:
            # A matplotlib packaged without its fonts: fall back to PIL's own, which has no Greek.
            self.regular = self.bold = ImageFont.load_default(size=size)
            self.beta, self.times = "beta", "x"
        self.pad = max(3, size // 3)
        self.space = self.regular.getlength(" ")
        # bbox bottom measured from the ascender line is the full glyph height with descenders
        self.line = self.regular.getbbox("Ágjy")[3] + max(2, size // 4)


def _label(draw: ImageDraw.ImageDraw, fonts: _Fonts, x: int, y: int, width: int, text: str, note: str):
    """One label line: `text` in bold on the left, `note` in grey on the right, cut with … to fit."""
    note_w = fonts.regular.getlength(note) if note else 0.0
    room = width - 2 * fonts.pad - (note_w + fonts.pad if note else 0)
    text = _ellipsize(text, fonts.bold, room)
    draw.text((x + fonts.pad, y + fonts.pad), text, font=fonts.bold, fill=_INK)
    if note:
        draw.text((x + width - fonts.pad - note_w, y + fonts.pad), note, font=fonts.regular, fill=_MUTED)


def _wrap(widths: Sequence[float], space: float, width: float) -> list[list[int]]:
    """Greedy word wrap of tokens `widths` pixels wide; each line is a list of token indices, so
    callers can draw each token in its own style."""
    lines: list[list[int]] = []
    current: list[int] = []
    used = 0.0
    for i, token_w in enumerate(widths):
        if current and used + space + token_w > width:
            lines.append(current)
            current, used = [], 0.0
        used += (space if current else 0.0) + token_w
        current.append(i)
    if current:
        lines.append(current)
    return lines


def _ellipsize(text: str, font: Any, width: float) -> str:
    """`text`, cut and ended with … when it is wider than `width` pixels."""
    if font.getlength(text) <= width:
        return text
    # The longest prefix that fits, by bisection: cutting a character at a time measured the whole
    # text once per character (minutes for a 20,000-character word).
    fits, over = 0, len(text)
    while over - fits > 1:
        middle = (fits + over) // 2
        if font.getlength(text[:middle] + "…") <= width:
            fits = middle
        else:
            over = middle
    return text[:fits] + "…"


# ----------------------------------------------------------------------------------------------
# Input checks


def _check_inputs(words, attention, betas) -> tuple[list[str], np.ndarray, np.ndarray | None]:
    """Checked inputs: words as a list of str, attention float32 (n, H, W), betas float32 (n,)."""
    if isinstance(words, str) or not all(isinstance(w, str) for w in words):
        raise TypeError("words must be a list of strings (one per caption word)")
    words = list(words)
    attention = np.asarray(attention, dtype=np.float32)
    if attention.ndim != 3 or attention.shape[0] != len(words) or 0 in attention.shape[1:]:
        raise ValueError(
            f"attention has shape {attention.shape}; expected ({len(words)}, H, W): one H x W map for each of the {len(words)} words"
        )
    if not np.isfinite(attention).all():
        raise ValueError("attention contains NaN or infinite values")
    if (attention < 0).any():
        raise ValueError("attention contains negative weights; each map should be a softmax")
    if betas is not None:
        betas = np.asarray(betas, dtype=np.float32)
        if betas.shape != (len(words),):
            raise ValueError(f"betas has shape {betas.shape}; expected ({len(words)},): one gate value per word")
        if not np.isfinite(betas).all():
            raise ValueError("betas contains NaN or infinite values")
    return words, attention, betas


def _check_shares(shares, n_words: int) -> np.ndarray | None:
    """The visual sentinel's shares as float32 (n,), or None for a model without a sentinel."""
    if shares is None:
        return None
    shares = np.asarray(shares, dtype=np.float32)
    if shares.shape != (n_words,):
        raise ValueError(f"sentinel_shares has shape {shares.shape}; expected ({n_words},): one share per word")
    return shares


def _check_smooth(smooth: str, sigma: float) -> None:
    if smooth not in maps.SMOOTHING:
        raise ValueError(f"unknown smooth {smooth!r}: use one of {', '.join(maps.SMOOTHING)}")
    if not (isinstance(sigma, numbers.Real) and math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be a finite number >= 0 (in grid cells), got {sigma!r}")


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (width, height), got {size!r}") from None
    if width < 1 or height < 1:
        raise ValueError(f"size must be positive (width, height), got {size!r}")
    return width, height


def _resolve_style(style: HeatmapStyle | None, options: dict[str, Any]) -> HeatmapStyle:
    """The style to use: `style` (default HeatmapStyle()) with keyword `options` replacing fields."""
    if style is None:
        style = HeatmapStyle()
    elif not isinstance(style, HeatmapStyle):
        raise TypeError(f"style must be a HeatmapStyle, got {type(style).__name__}")
    names = {field.name for field in dataclasses.fields(HeatmapStyle)}
    unknown = sorted(set(options) - names)
    if unknown:
        valid = ", ".join(sorted(names))
        raise TypeError(f"unknown heatmap option(s) {unknown}; valid options: {valid}")
    return dataclasses.replace(style, **options) if options else style


def _to_rgb(image: Image.Image) -> Image.Image:
    if not isinstance(image, Image.Image):
        raise TypeError(f"image must be a PIL.Image.Image, got {type(image).__name__}")
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        # Transparent pixels would otherwise show whatever colour hides under alpha 0: put them on white.
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, _PAPER + (255,)), rgba).convert("RGB")
    return image.convert("RGB")
