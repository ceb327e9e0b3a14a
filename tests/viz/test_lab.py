"""Pictures of the attention lab's variants: the gaze path, a centre, an outlined cell (a greyed word: test_greying.py)."""

import numpy as np
from PIL import Image

from captioner.viz.lab import centre_pixels, draw_gaze_path, mark_centre, outline_cell


def test_centres_in_cells_become_pixels_of_any_image_size():
    centres = np.array([[0.0, 0.0], [7.0, 7.0], [14.0, 3.5]])  # (row, column) on a 14 x 14 grid
    pixels = centre_pixels(centres, (14, 14), (280, 140))  # a wide image: the grid is squashed
    assert np.allclose(pixels, [[0, 0], [140, 70], [70, 140]])


def test_the_gaze_path_rings_the_current_word_in_red_where_its_centre_is():
    image = Image.new("RGB", (200, 200), (0, 0, 255))
    centres = np.array([[1.0, 1.0], [5.0, 5.0], [3.0, 8.0]])  # on a 10 x 10 grid
    path = np.asarray(draw_gaze_path(image, centres, (10, 10), current=2)).astype(int)
    red = (path[..., 0] > 200) & (path[..., 1] < 80) & (path[..., 2] < 80)
    ys, xs = np.nonzero(red)
    assert red.any() and abs(xs.mean() - 160) < 8 and abs(ys.mean() - 60) < 8
    # the line joins the centres in word order: the middle of the first leg is drawn on, away from any dot
    assert path[60, 60].tolist() != [0, 0, 255]
    assert np.array_equal(np.asarray(image), np.full((200, 200, 3), (0, 0, 255)))  # the image is untouched


def test_mark_centre_and_outline_cell_draw_where_they_say():
    image = Image.new("RGB", (100, 50), (0, 0, 0))
    marked = np.asarray(mark_centre(image, np.array([1.0, 2.0]), (2, 4)))  # centre at x 50, y 25
    assert marked[25, 50].any() and not marked[2, 2].any()
    outlined = np.asarray(outline_cell(image, 1, 3, (2, 4)))  # the bottom-right cell: x 75..99, y 25..49
    assert outlined[25, 80].any() and outlined[49, 99].any() and not outlined[10, 10].any() and not outlined[37, 87].any()
