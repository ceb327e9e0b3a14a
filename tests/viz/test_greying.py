"""A word that did not look at the image: the sentinel's threshold and the greyed picture."""

import numpy as np
from PIL import Image

from captioner.viz.greying import SENTINEL_THRESHOLD, greyed, looked_away


def test_a_word_that_did_not_look_is_greyed():
    assert looked_away(np.array([0.2, SENTINEL_THRESHOLD + 0.01]), 1) and not looked_away(np.array([0.2, 0.5]), 1)
    assert not looked_away(None, 0)
    grey = np.asarray(greyed(Image.new("RGB", (8, 8), (200, 30, 30))))
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all() and grey.min() > 120  # pale grey
