"""Tests for captioner.viz.render: maps land where the attention is, colours come from matplotlib,
the grid and GIF have the right shape, and exports round-trip."""

import io
import json
import math
from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest
import skimage.data
from PIL import Image

from captioner.results.result import CaptionResult
from captioner.viz import export as hx
from captioner.viz import render as hm
from captioner.viz.greying import SENTINEL_THRESHOLD
from captioner.viz.render import HeatmapStyle

P = 96  # small panels keep the tests fast
M = 2  # the white margin around each panel at this size


def result_of(words, attention, betas=None, text=None, score=None):
    """What captioning gives, as the drawing functions read it (a CaptionResult's fields)."""
    return SimpleNamespace(words=words, attention=attention, betas=betas, text=text, score=score)


def peaked(n_words, grid=(14, 14), peaks=None):
    """Attention (n, H, W) summing to 1 per word, all mass in one cell each (default: cell (k, k))."""
    attention = np.zeros((n_words, *grid), dtype=np.float32)
    for k in range(n_words):
        i, j = peaks[k] if peaks else (k % grid[0], k % grid[1])
        attention[k, i, j] = 1.0
    return attention


@pytest.fixture(scope="module")
def chelsea():
    return Image.fromarray(skimage.data.chelsea())  # 451 x 300 RGB photo


def hottest(values):
    """(row, col) of the maximum of a 2-D array."""
    return np.unravel_index(np.argmax(values), values.shape)


# ---------------------------------------------------------------------------------------------
# upsample


@pytest.mark.parametrize("smooth", ["nearest", "bilinear", "bicubic"])
def test_upsample_keeps_mass_in_top_right_cell(smooth):
    grid = np.zeros((14, 14), np.float32)
    grid[0, 13] = 1.0
    up = hm.upsample(grid, (451, 300), smooth=smooth)
    assert up.shape == (300, 451) and up.dtype == np.float32
    assert up.min() >= 0.0 and up.max() == pytest.approx(1.0)
    rows, cols = np.nonzero(up >= 0.9 * up.max())
    # cell (0, 13) covers rows 0..300/14 and columns 451*13/14..451 of the image
    assert rows.max() < 300 / 14 + 1
    assert cols.min() > 451 * 12.5 / 14
    if smooth == "nearest":
        hot = up == 1.0
        assert hot.sum() == pytest.approx((300 / 14) * (451 / 14), rel=0.1)
        assert hot[:21, 419:].all() and not hot[22:, :].any() and not hot[:, :418].any()


def test_upsample_does_not_swap_axes_on_a_non_square_grid():
    grid = np.zeros((7, 10), np.float32)
    grid[6, 0] = 1.0  # bottom-left cell
    row, col = hottest(hm.upsample(grid, (200, 70), smooth="bilinear"))
    assert row >= 60 and col < 20


def test_upsample_sigma_is_in_grid_cells_and_keeps_the_peak():
    grid = np.zeros((14, 14), np.float32)
    grid[0, 13] = 1.0
    sharp = hm.upsample(grid, (280, 280), smooth="nearest")
    blurred = hm.upsample(grid, (280, 280), smooth="nearest", sigma=1.0)
    assert (blurred > 0.1).sum() > 1.5 * (sharp > 0.1).sum()
    row, col = hottest(blurred)
    assert row < 20 and col >= 260
    # the same sigma at twice the size blurs twice as many pixels: it is measured in cells
    big = hm.upsample(grid, (560, 560), smooth="nearest", sigma=1.0)
    assert (big > 0.1).sum() == pytest.approx(4 * (blurred > 0.1).sum(), rel=0.05)


def test_upsample_uniform_and_zero_maps():
    assert np.allclose(hm.upsample(np.full((7, 7), 1 / 49, np.float32), (50, 30)), 1.0)
    assert not hm.upsample(np.zeros((7, 7), np.float32), (50, 30)).any()


@pytest.mark.parametrize(
    "grid, size, kwargs, match",
    [
        (np.zeros((3, 4, 4)), (10, 10), {}, "2-D"),
        (np.full((4, 4), np.nan), (10, 10), {}, "NaN"),
        (np.zeros((4, 4)), (0, 10), {}, "size"),
        (np.zeros((4, 4)), (10, 10), {"smooth": "lanczos"}, "lanczos"),
        (np.zeros((4, 4)), (10, 10), {"sigma": -1}, "sigma"),
    ],
)
def test_upsample_rejects_bad_input(grid, size, kwargs, match):
    with pytest.raises(ValueError, match=match):
        hm.upsample(grid, size, **kwargs)


# ---------------------------------------------------------------------------------------------
# overlay and colours


def test_overlay_opacity_zero_is_the_image(chelsea):
    out = hm.overlay(chelsea, peaked(1)[0], opacity=0.0)
    assert out.size == chelsea.size and out.mode == "RGB"
    assert np.array_equal(np.asarray(out), np.asarray(chelsea))


@pytest.mark.parametrize("name", ["jet", "viridis", "magma"])
def test_overlay_opacity_one_is_the_matplotlib_colormap(chelsea, name):
    grid = np.random.default_rng(1).random((14, 14)).astype(np.float32)
    grid /= grid.sum()
    out = np.asarray(hm.overlay(chelsea, grid, colormap=name, opacity=1.0, fade=False))
    values = hm.upsample(grid, chelsea.size, smooth=HeatmapStyle().smooth)
    cmap = matplotlib.colormaps[name]
    coldest = np.unravel_index(values.argmin(), values.shape)
    for y, x in [(0, 0), (150, 225), (299, 450), hottest(values), coldest]:
        expected = cmap(values[y, x], bytes=True)[:3]
        assert tuple(out[y, x]) == tuple(expected), (name, y, x)
    # and as a whole: every pixel is the colormap's colour for its value
    assert np.array_equal(out, cmap(values, bytes=True)[..., :3])
    assert tuple(out[hottest(values)]) == tuple(cmap(1.0, bytes=True)[:3])


def test_overlay_blends_half_and_half(chelsea):
    grid = peaked(1)[0]
    out = hm.overlay(chelsea, grid, colormap="viridis", opacity=0.5, smooth="nearest")
    out = np.asarray(out).astype(int)
    colour = np.array(matplotlib.colormaps["viridis"](1.0, bytes=True)[:3], int)
    pixel = np.asarray(chelsea)[5, 5].astype(int)  # inside cell (0, 0), where all the mass is
    assert np.abs(out[5, 5] - (pixel + colour) / 2).max() <= 1


def test_low_attention_fades_to_the_photo_and_the_peak_is_coloured(chelsea):
    grid = peaked(1)[0]  # all the mass in cell (0, 0)
    photo = np.asarray(chelsea)
    faded = np.asarray(hm.overlay(chelsea, grid, colormap="jet", opacity=0.5, smooth="nearest"))
    assert np.array_equal(faded[-5, -5], photo[-5, -5])  # no attention: the photo's own colour
    washed = np.asarray(hm.overlay(chelsea, grid, colormap="jet", opacity=0.5, smooth="nearest", fade=False))
    assert not np.array_equal(washed[-5, -5], photo[-5, -5])  # without fade: jet's dark blue over it
    assert np.array_equal(faded[5, 5], washed[5, 5])  # at the peak both weigh the colour by the opacity


def test_unknown_colormap_is_a_clear_error(chelsea):
    with pytest.raises(ValueError, match="not_a_map"):
        hm.overlay(chelsea, peaked(1)[0], colormap="not_a_map")
    with pytest.raises(ValueError, match="not_a_map"):
        HeatmapStyle(colormap="not_a_map")


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16"])
def test_non_rgb_images_are_converted(mode):
    image = Image.fromarray(skimage.data.astronaut()).resize((64, 48)).convert(mode)
    assert hm.overlay(image, peaked(1)[0]).mode == "RGB"
    assert hm.render_grid(image, result_of(["a"], peaked(1)), panel_size=P).mode == "RGB"


def test_transparent_pixels_are_drawn_on_white():
    image = Image.new("RGBA", (20, 20), (255, 0, 0, 0))
    assert tuple(np.asarray(hm.overlay(image, peaked(1)[0], opacity=0.0))[10, 10]) == (255, 255, 255)


def test_style_and_options_are_checked():
    with pytest.raises(TypeError, match="colourmap"):
        hm.overlay(Image.new("RGB", (8, 8)), peaked(1)[0], colourmap="jet")
    bads = [{"opacity": 1.5}, {"smooth": "cubic"}, {"sigma": -0.1}, {"panel_size": 10}, {"columns": 0}]
    for bad in bads:
        with pytest.raises(ValueError):
            HeatmapStyle(**bad)
    style = HeatmapStyle(colormap="viridis", panel_size=P)
    image = hm.render_grid(Image.new("RGB", (30, 20)), result_of(["a"], peaked(1)), style=style, columns=1)
    assert image.width == P


# ---------------------------------------------------------------------------------------------
# grid


def test_grid_size_follows_columns_and_word_count():
    image = Image.new("RGB", (40, 30), (10, 120, 10))
    # text="" and no score: no header, so the height is rows x one cell
    cell = hm.render_grid(image, result_of([], peaked(0), text=""), panel_size=P).height
    assert cell > P  # panel plus its label strip
    for n in range(13):
        words = [f"w{k}" for k in range(n)]
        grid = hm.render_grid(image, result_of(words, peaked(n), text=""), panel_size=P, columns=5)
        assert grid.size == (min(5, n + 1) * P, math.ceil((n + 1) / 5) * cell), n
    grid = hm.render_grid(image, result_of(["a"] * 7, peaked(7), text=""), panel_size=P, columns=3)
    assert grid.size == (3 * P, 3 * cell)


def test_grid_header_adds_height_for_caption_and_score():
    image = Image.new("RGB", (40, 30))
    plain = hm.render_grid(image, result_of(["a", "dog"], peaked(2), text=""), panel_size=P)
    captioned = hm.render_grid(image, result_of(["a", "dog"], peaked(2), score=-0.5), panel_size=P)
    assert captioned.width == plain.width and captioned.height > plain.height


def test_grid_panels_show_each_word_in_order():
    # gray colormap at opacity 1: brightness is the attention, so each panel's brightest spot
    # shows where its word looked
    corners = [(0, 0), (0, 13), (13, 0), (13, 13)]
    words = ["top-left", "top-right", "bottom-left", "bottom-right"]
    image = Image.new("RGB", (300, 300), (0, 0, 0))
    grid = np.asarray(
        hm.render_grid(
            image,
            result_of(words, peaked(4, peaks=corners), text=""),
            panel_size=P,
            columns=5,
            colormap="gray",
            opacity=1.0,
            smooth="nearest",
        )
    ).sum(axis=2)
    inside = slice(M, P - M)  # the square image fills the panel inside its white margin
    assert grid[inside, inside].max() == 0  # the first panel is the plain (black) image
    for k, (i, j) in enumerate(corners, start=1):
        row, col = hottest(grid[inside, k * P + M : (k + 1) * P - M])
        assert (row < P / 2) == (i == 0) and (col < P / 2) == (j == 0), words[k - 1]


def test_grid_of_no_words_is_the_image_panel(chelsea):
    grid = hm.render_grid(chelsea, result_of([], np.zeros((0, 14, 14), np.float32)), panel_size=P)
    assert grid.width == P


def test_grid_labels_betas_and_a_real_photo(chelsea):
    words = ["a", "cat", "looking", "up"]
    grid = hm.render_grid(chelsea, result_of(words, peaked(4), betas=np.array([0.9, 0.8, 0.1, 0.5]), score=-0.7))
    assert grid.width == 5 * 224
    # the label strip under a panel is white with dark text
    strip = np.asarray(grid)[-20:, 224:448]
    assert (strip == 255).mean() > 0.5 and strip.min() < 80


@pytest.mark.parametrize("size", [(20, 2000), (2000, 20), (1, 1)])
def test_tall_and_wide_images_are_letterboxed(size):
    image = Image.new("RGB", size, (0, 0, 0))
    grid = np.asarray(hm.render_grid(image, result_of(["x"], peaked(1), text=""), panel_size=P, opacity=1.0))
    panel = grid[:P, P : 2 * P]
    letterbox = np.all(panel == 225, axis=2)
    heat = ~letterbox & ~np.all(panel == 255, axis=2)
    assert heat.any()
    # the image (and so its heatmap) keeps its aspect ratio inside the square panel
    rows, cols = np.nonzero(heat)
    height, width = np.ptp(rows) + 1, np.ptp(cols) + 1
    if size[0] != size[1]:
        assert max(height, width) > 80 and min(height, width) <= 2


# ---------------------------------------------------------------------------------------------
# GIF


def frames_of(gif_bytes):
    gif = Image.open(io.BytesIO(gif_bytes))
    assert gif.format == "GIF"
    return gif


@pytest.mark.parametrize("n", [1, 2, 7])
def test_gif_has_one_frame_per_word(chelsea, n):
    gif = frames_of(hm.render_gif(chelsea, result_of([f"w{k}" for k in range(n)], peaked(n)), panel_size=P))
    assert gif.n_frames == n
    assert gif.info.get("loop") == 0


def test_gif_keeps_a_frame_for_each_word_even_when_maps_repeat(chelsea):
    # identical frames would be merged by PIL; the status line keeps every word's frame
    attention = np.full((5, 7, 7), 1 / 49, np.float32)
    gif = frames_of(hm.render_gif(chelsea, result_of(["a", "a", "a", "a", "a"], attention), panel_size=P))
    assert gif.n_frames == 5


def test_gif_of_no_words_is_one_frame(chelsea):
    gif = frames_of(hm.render_gif(chelsea, result_of([], np.zeros((0, 7, 7), np.float32)), panel_size=P))
    assert gif.n_frames == 1


def test_gif_frames_follow_the_words(chelsea):
    corners = [(0, 0), (13, 13), (0, 13)]
    data = hm.render_gif(
        chelsea,
        result_of(["a", "b", "c"], peaked(3, peaks=corners), betas=np.ones(3)),
        panel_size=P,
        colormap="gray",
        opacity=1.0,
        smooth="nearest",
        duration_ms=250,
    )
    gif = frames_of(data)
    sizes = set()
    for t, (i, j) in enumerate(corners):
        gif.seek(t)
        assert gif.info["duration"] == 250
        frame = np.asarray(gif.convert("RGB")).astype(int).sum(axis=2)
        sizes.add(gif.size)
        row, col = hottest(frame[M : P - M, M : P - M])  # grey letterbox < white peak: no need to cut it
        assert (row < P / 2 - M) == (i == 0) and (col < P / 2 - M) == (j == 0), t
    assert len(sizes) == 1 and next(iter(sizes))[0] == P


# ---------------------------------------------------------------------------------------------
# arrays and export


def test_export_writes_all_files_and_arrays_round_trip(chelsea, tmp_path):
    words = ["a", "cat", "on", "a", "floor"]
    rng = np.random.default_rng(0)
    attention = rng.random((5, 14, 14), dtype=np.float32)
    attention /= attention.sum(axis=(1, 2), keepdims=True)
    betas = np.array([0.9, 0.7, 0.3, 0.2, 0.6], np.float32)
    result = CaptionResult("a cat on a floor", words, attention, -0.42, betas, alternatives=[("a cat on a floor", -0.42), ("a cat", -0.9)])
    paths = hx.export_heatmaps(chelsea, result, tmp_path / "new" / "dir", "chelsea", panel_size=P)
    assert {k: p.name for k, p in paths.items()} == {
        "grid": "chelsea_grid.png",
        "gif": "chelsea.gif",
        "npy": "chelsea_attention.npy",
        "json": "chelsea.json",
    }
    assert all(p.is_file() for p in paths.values())
    assert sorted(p.name for p in paths["grid"].parent.iterdir()) == sorted(p.name for p in paths.values())

    saved = np.load(paths["npy"])
    assert saved.dtype == np.float32 and np.array_equal(saved, attention)

    # The one JSON form of a result (CaptionResult.to_json), with the maps.
    record = json.loads(paths["json"].read_text())
    assert record == json.loads(json.dumps(result.to_json(include_attention=True)))
    assert record["caption"] == "a cat on a floor" and record["words"] == words
    assert record["score"] == -0.42 and record["grid"] == [14, 14]
    assert record["alternatives"][1] == {"caption": "a cat", "score": -0.9}
    assert np.allclose(np.array(record["betas"], np.float32), betas)
    assert np.array_equal(np.array(record["attention"], np.float32), attention)

    assert Image.open(paths["grid"]).format == "PNG"
    assert Image.open(paths["gif"]).n_frames == 5


def test_render_heatmaps_is_the_grid_and_the_gif(chelsea):
    result = result_of(["a", "cat"], peaked(2), text="a cat", score=-0.5)
    grid, gif = hm.render_heatmaps(chelsea, result, panel_size=P)
    assert np.array_equal(np.asarray(grid), np.asarray(hm.render_grid(chelsea, result, panel_size=P)))
    assert gif == hm.render_gif(chelsea, result, panel_size=P)


def _greyness(picture: np.ndarray) -> int:
    """How far a picture is from grey: the largest difference between two channels of a pixel."""
    picture = picture.astype(int)
    return int(np.abs(picture - picture.mean(axis=2, keepdims=True)).max())


def test_a_word_the_sentinel_took_is_greyed_in_the_grid_and_the_gif_as_in_the_app(chelsea):
    # the sentinel took 90 % of "on"'s attention (above SENTINEL_THRESHOLD, the app's): its map would
    # be noise, so its panel and its frame show the image greyed (viz/greying.py's), as the app does
    words, shares = ["a", "on", "cat"], np.array([0.1, 0.9, SENTINEL_THRESHOLD], np.float32)
    result = SimpleNamespace(**vars(result_of(words, peaked(3), text="a on cat")), sentinel_shares=shares)
    grid, gif = hm.render_heatmaps(chelsea, result, panel_size=P)
    grid, fonts = np.asarray(grid), hm._Fonts(P)
    header = grid.shape[0] - (P + fonts.line + 2 * fonts.pad)  # one row of panels, each over its label strip
    image, *word_panels = (grid[header : header + P, k * P : (k + 1) * P] for k in range(4))
    assert _greyness(word_panels[1]) == 0 and word_panels[1].min() > 120  # "on": pale grey
    assert _greyness(image) > 60 and _greyness(word_panels[0]) > 60 and _greyness(word_panels[2]) > 60  # the others: colour
    frames = frames_of(gif)
    greyness = []
    for t in range(3):
        frames.seek(t)
        greyness.append(_greyness(np.asarray(frames.convert("RGB"))[:P, :P]))
    assert greyness[1] <= 4 and greyness[0] > 60 and greyness[2] > 60  # a GIF's palette rounds the grey a little
    # a model without a sentinel (no shares), and shares that do not fit the words
    plain = np.asarray(hm.render_grid(chelsea, result_of(words, peaked(3), text="a on cat"), panel_size=P))
    assert _greyness(plain[header : header + P, 2 * P : 3 * P]) > 60
    with pytest.raises(ValueError, match="sentinel_shares"):
        hm.render_gif(chelsea, SimpleNamespace(**vars(result_of(words, peaked(3))), sentinel_shares=np.ones(2)), panel_size=P)


@pytest.mark.parametrize(
    "words, attention, betas, match",
    [
        (["a", "b"], np.zeros((3, 7, 7)), None, r"expected \(2, H, W\)"),
        (["a", "b"], np.zeros((2, 49)), None, "shape"),
        (["a"], np.zeros((1, 0, 7)), None, "shape"),
        (["a", "b"], peaked(2), np.ones(3), "betas"),
        (["a"], np.full((1, 7, 7), np.nan), None, "NaN"),
        (["a"], -peaked(1), None, "negative"),
        ([], np.zeros((1, 7, 7)), None, r"expected \(0, H, W\)"),
    ],
)
def test_bad_inputs_raise_clear_errors(words, attention, betas, match, tmp_path):
    image = Image.new("RGB", (20, 20))
    with pytest.raises(ValueError, match=match):
        hm.render_grid(image, result_of(words, attention, betas=betas))
    with pytest.raises(ValueError, match=match):
        hm.render_gif(image, result_of(words, attention, betas=betas))
    with pytest.raises(ValueError, match=match):
        hx.export_heatmaps(image, result_of(words, attention, betas=betas, score=0.0), tmp_path, "x")
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_other_bad_arguments(tmp_path):
    image = Image.new("RGB", (20, 20))
    with pytest.raises(TypeError, match="words"):
        hm.render_grid(image, result_of("a dog", peaked(5)))
    with pytest.raises(TypeError, match="PIL"):
        hm.overlay(np.zeros((20, 20, 3), np.uint8), peaked(1)[0])
    with pytest.raises(ValueError, match="stem"):
        hx.export_heatmaps(image, result_of(["a"], peaked(1), score=0.0), tmp_path, "../escape")
    with pytest.raises(ValueError, match="score"):
        hx.save_arrays(result_of(["a"], peaked(1), score=float("nan")), tmp_path, "x")


def test_pictures_show_the_map_that_attention_correctness_measures(chelsea):
    from captioner.evaluation.attention_metrics import attention_correctness, upsample_attention

    grid = np.random.default_rng(3).random((14, 14)).astype(np.float32)
    grid /= grid.sum()
    shown = hm.upsample(grid, chelsea.size)  # the default style's smoothing
    measured = upsample_attention(grid, chelsea.size)  # the metrics' default
    np.testing.assert_allclose(shown, measured / measured.max(), atol=1e-6)
    peak_x, peak_y = attention_correctness(grid, (0, 0, 1, 1), chelsea.size)["peak_xy"]
    assert hottest(shown) == (peak_y, peak_x)


def test_a_20000_character_word_is_drawn_in_a_moment(chelsea):
    # Shortening a label one character at a time measured the whole text each time: minutes for a
    # vocabulary word of 20,000 characters (issue 25).
    import time

    word = "supercalifragilistic" * 1000
    started = time.process_time()
    grid, gif = hm.render_heatmaps(chelsea, result_of([word, "cat"], peaked(2), text=f"{word} cat"), panel_size=P)
    assert time.process_time() - started < 3.0
    assert grid.size[0] > 0 and gif[:3] == b"GIF"


def test_ellipsize_keeps_the_longest_prefix_that_fits():
    fonts = hm._Fonts(P)
    for text in ("short", "a" * 50, "mixed WIDTH iiii MMMM " * 10):
        out = hm._ellipsize(text, fonts.bold, 60)
        if out == text:
            assert fonts.bold.getlength(text) <= 60
            continue
        assert out.endswith("…") and text.startswith(out[:-1])
        assert fonts.bold.getlength(out) <= 60
        assert fonts.bold.getlength(text[: len(out)] + "…") > 60  # one more character would not fit
