"""Fuzzing load_image: mutated images of every supported format either load as RGB or raise
ImageLoadError, never anything else (issue 12). A bounded run is part of the suite; a longer
campaign is `python scripts/fuzz_images.py --seconds 600`."""

import pytest

pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st

from captioner.images.loading import ImageLoadError, load_image  # noqa: E402
from scripts.fuzz_images import SEED_FORMATS, mutate, seed_images  # noqa: E402

SEEDS = seed_images()


@pytest.mark.filterwarnings("ignore::UserWarning")  # PIL warns on every damaged EXIF block
@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@example(fmt="JPEG", seed=1389069535, n=8)  # struct.error in EXIF handling, found by the campaign
@example(fmt="TIFF", seed=2497067305, n=2)  # struct.error in the strip-count guard's header parsing (issue 25)
@example(fmt="TIFF", seed=3253978649, n=7)  # OverflowError there: an IFD offset past any file (issue 25)
@example(fmt="IM", seed=3397262028, n=7)  # a size line of three numbers: ValueError (issue 25)
@given(fmt=st.sampled_from(SEED_FORMATS), seed=st.integers(0, 2**32 - 1), n=st.integers(1, 8))
def test_mutated_images_load_or_raise_image_load_error(fmt, seed, n):
    data = mutate(SEEDS[fmt], seed, n)
    try:
        img = load_image(data, max_pixels=4_000_000)
    except ImageLoadError:
        return
    assert img.mode == "RGB"
