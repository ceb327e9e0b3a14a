"""The image stream: inputs read in background threads, in input order, an error per input."""

import io
import threading
import time

import numpy as np
import pytest
from PIL import Image

from captioner.images.loading import ImageLoadError
from captioner.images.preprocess import Preprocessor
from captioner.images.stream import ImageStream, read_image

PREPROCESSOR = Preprocessor(image_size=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def _image(value: int, size=(40, 30)) -> Image.Image:
    return Image.new("RGB", size, (value, 255 - value, 7))


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def test_batches_come_in_input_order_even_when_later_inputs_are_read_first():
    # The first inputs take longest to read, so with four threads the later ones finish first.
    def slow_for_early(image):
        time.sleep(0.02 * (255 - image.getpixel((0, 0))[0]) / 255)
        return image.getpixel((0, 0))[0]

    inputs = [_image(v) for v in range(0, 250, 25)]
    with ImageStream(PREPROCESSOR, workers=4, view=slow_for_early) as stream:
        batches = list(stream.batches(inputs, batch_size=3))
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    loaded = [item for batch in batches for item in batch]
    assert [item.source for item in loaded] == inputs
    assert [item.seen for item in loaded] == list(range(0, 250, 25))


def test_an_unreadable_input_gets_its_error_and_the_others_go_on(tmp_path):
    good = tmp_path / "good.png"
    _image(90).save(good)
    inputs = [good, b"not an image", tmp_path / "missing.jpg", _png(_image(200))]
    with ImageStream(PREPROCESSOR) as stream:
        loaded = [item for batch in stream.batches(inputs, batch_size=2) for item in batch]
    assert [item.error is None for item in loaded] == [True, False, False, True]
    assert isinstance(loaded[1].error, ImageLoadError) and "12 bytes" in str(loaded[1].error)
    assert "missing.jpg" in str(loaded[2].error)
    assert loaded[1].pixels is None and loaded[2].size is None
    for item in (loaded[0], loaded[3]):
        assert item.pixels.shape == (32, 32, 3) and item.pixels.dtype == np.uint8 and item.size == (40, 30)
    assert loaded[3].pixels[0, 0].tolist() == [200, 55, 7]


def test_images_are_kept_only_when_asked_and_the_size_is_the_originals():
    image = _image(10, size=(50, 20))
    with ImageStream(PREPROCESSOR) as stream:
        (plain,) = next(stream.batches([image]))
        (kept,) = next(stream.batches([image], keep_images=True))
    assert plain.image is None and kept.image is not None and kept.image.size == (50, 20)
    assert plain.size == kept.size == (50, 20)
    assert np.array_equal(plain.pixels, PREPROCESSOR.resize(image))


def test_reading_and_the_view_run_in_the_streams_threads():
    threads = []
    with ImageStream(PREPROCESSOR, workers=2, view=lambda image: threads.append(threading.current_thread().name)) as stream:
        list(stream.batches([_image(v) for v in range(5)], batch_size=2))
    assert len(threads) == 5 and all(name.startswith("captioner") for name in threads)
    assert threading.current_thread().name not in threads


def test_it_reads_only_a_bounded_number_of_inputs_ahead():
    pulled = []

    def endless():
        for k in range(10_000):
            pulled.append(k)
            yield _image(k % 256, size=(8, 8))

    with ImageStream(PREPROCESSOR, workers=2) as stream:
        first = next(stream.batches(endless(), batch_size=4))
    assert len(first) == 4
    # One batch in the caller's hands, at most one more (and the workers') read ahead.
    assert len(pulled) <= 2 * 4 + 2


def test_in_order_runs_any_jobs_in_job_order():
    def job(k):
        time.sleep(0.01 * (5 - k))
        return k * k

    with ImageStream(PREPROCESSOR, workers=3) as stream:
        assert list(stream.in_order((lambda k=k: job(k) for k in range(6)), depth=4)) == [0, 1, 4, 9, 16, 25]


@pytest.mark.parametrize(
    "workers, batch_size, message", [(0, 4, "workers"), (2, 0, "batch_size"), (True, 4, "workers"), (2, 2.5, "batch_size")]
)
def test_bad_counts_are_refused_by_name(workers, batch_size, message):
    with pytest.raises(ValueError, match=f"{message} must be a whole number >= 1"):
        with ImageStream(PREPROCESSOR, workers=workers) as stream:
            stream.batches([_image(1)], batch_size=batch_size)


def test_read_image_never_raises_for_a_bad_input():
    item = read_image(b"\x89PNG broken", PREPROCESSOR)
    assert item.error is not None and item.pixels is None and item.source == b"\x89PNG broken"
