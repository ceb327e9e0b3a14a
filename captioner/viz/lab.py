"""Pictures of what the attention lab's variants add (docs/attention-lab.md): local attention's
gaze path across a caption and its centre on a word's map, and one grid cell outlined (where a grid
self-attention map comes from). A word's picture greyed out when the visual sentinel says it did not
look at the image is viz/greying.py's, shared with the exported grid and GIF."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from captioner.viz.render import _Fonts

_PATH, _DOT, _NOW, _RING = (255, 255, 255), (20, 20, 20), (230, 40, 40), (255, 255, 255)


def centre_pixels(centres: np.ndarray, grid_size: Sequence[int], size: tuple[int, int]) -> np.ndarray:
    """Local attention's centres ((row, column) in grid cells, (0, 0) the top-left corner and
    (H, W) the bottom-right one) as (x, y) pixels of an image of `size` = (width, height)."""
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    H, W = grid_size
    width, height = size
    return np.stack([centres[:, 1] * width / W, centres[:, 0] * height / H], axis=1)


def draw_gaze_path(image: Image.Image, centres: np.ndarray, grid_size: Sequence[int], current: int | None = None) -> Image.Image:
    """A copy of `image` with the path of the centres across the caption: a line through them in
    word order, each numbered (1 = the first word), the `current` word's centre ringed in red."""
    picture = image.convert("RGB")
    points = [tuple(p) for p in centre_pixels(centres, grid_size, picture.size)]
    draw = ImageDraw.Draw(picture)
    radius = max(5, round(min(picture.size) / 45))
    fonts = _Fonts(radius * 22)
    if len(points) > 1:
        draw.line(points, fill=_PATH, width=max(2, radius // 3), joint="curve")
    for k, (x, y) in enumerate(points):
        now = k == current
        r = radius * 1.5 if now else radius
        draw.ellipse((x - r, y - r, x + r, y + r), fill=_NOW if now else _DOT, outline=_RING, width=max(1, radius // 4))
        draw.text((x, y), str(k + 1), fill=_RING, font=fonts.bold, anchor="mm")
    return picture


def mark_centre(picture: Image.Image, centre: np.ndarray, grid_size: Sequence[int]) -> Image.Image:
    """A copy of `picture` with one centre drawn as a ringed cross: where local attention's window sat."""
    picture = picture.convert("RGB")
    ((x, y),) = centre_pixels(centre, grid_size, picture.size)
    draw = ImageDraw.Draw(picture)
    r = max(6, round(min(picture.size) / 30))
    for colour, width in ((_DOT, 5), (_RING, 2)):
        draw.ellipse((x - r, y - r, x + r, y + r), outline=colour, width=width)
        draw.line((x - 2 * r, y, x + 2 * r, y), fill=colour, width=width - 1)
        draw.line((x, y - 2 * r, x, y + 2 * r), fill=colour, width=width - 1)
    return picture


def outline_cell(picture: Image.Image, row: int, column: int, grid_size: Sequence[int]) -> Image.Image:
    """A copy of `picture` with grid cell (`row`, `column`) outlined."""
    picture = picture.convert("RGB")
    H, W = grid_size
    width, height = picture.size
    box = (column * width / W, row * height / H, (column + 1) * width / W - 1, (row + 1) * height / H - 1)
    draw = ImageDraw.Draw(picture)
    draw.rectangle(box, outline=_DOT, width=4)
    draw.rectangle(box, outline=_RING, width=2)
    return picture
