"""Images read in background threads, in input order: what captioning (`Captioner.stream`) and
training's feature cache (`training.features`) both feed their encoder from.

Each input is read, turned upright, checked and resized to the model's input in one of a few
threads (PIL releases the GIL while it decodes and resizes) while the caller works on the previous
batch. Results come back in input order, and an input that is not a readable image gets its
`ImageLoadError` in its own `LoadedImage` while the others go on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from itertools import islice
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from captioner.images.loading import ImageInput, ImageLoadError, load_image_and_size
from captioner.images.preprocess import Preprocessor

T = TypeVar("T")


@dataclass
class LoadedImage:
    """One input as read: the model's input, or why there is none."""

    source: Any  # the input as given
    pixels: np.ndarray | None = None  # (S, S, 3) uint8, resized to the model's input
    image: Image.Image | None = None  # the upright image, when the stream was asked to keep it
    size: tuple[int, int] | None = None  # (width, height) of the original image, at full scale
    error: ImageLoadError | None = None  # the input is not a readable image
    seen: Any = None  # what the stream's `view` made of the image (the people detector's copy), if it has one


def read_image(source: ImageInput, preprocessor: Preprocessor, keep_image: bool = False, view: Callable | None = None) -> LoadedImage:
    """Read one input for the model: an unreadable one gives a LoadedImage with its error, never raises."""
    try:
        # A large JPEG is decoded at a reduced scale, still at least source_side on each side:
        # the same for captions with and without kept images (heatmaps), and the app's.
        image, size = load_image_and_size(source, min_side=preprocessor.source_side)
    except ImageLoadError as exc:
        return LoadedImage(source, error=exc)
    seen = view(image) if view is not None else None
    return LoadedImage(source, preprocessor.resize(image), image if keep_image else None, size, seen=seen)


def check_count(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")


class ImageStream:
    """`workers` background threads that read images for a model, used as a context manager:

        with ImageStream(preprocessor) as images:
            for batch in images.batches(paths, batch_size=32):   # lists of LoadedImage, in input order
                ...

    `view`, if given, runs on each upright image in those threads and its value is the image's
    `seen` (the captioner passes its people detector's resize, so that work overlaps the model's)."""

    def __init__(self, preprocessor: Preprocessor, workers: int = 2, view: Callable[[Image.Image], Any] | None = None):
        check_count("workers", workers)
        self.preprocessor, self.workers, self.view = preprocessor, workers, view
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="captioner")

    def __enter__(self) -> ImageStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def batches(self, inputs: Iterable[ImageInput], batch_size: int = 32, keep_images: bool = False) -> Iterator[list[LoadedImage]]:
        """The inputs read, `batch_size` at a time, in input order. `keep_images` keeps each upright
        image (a large JPEG at a reduced scale) in its LoadedImage."""
        check_count("batch_size", batch_size)
        reads = (partial(read_image, source, self.preprocessor, keep_images, self.view) for source in inputs)
        # One batch read ahead of the caller keeps its model fed; more would only cost memory.
        loaded = self.in_order(reads, depth=batch_size + self.workers)
        return iter(lambda: list(islice(loaded, batch_size)), [])

    def in_order(self, jobs: Iterable[Callable[[], T]], depth: int) -> Iterator[T]:
        """Run `jobs` in the stream's threads, at most `depth` at a time, and yield their results in
        job order (the captioner also finishes its results here: heatmaps drawn beside the model)."""
        pending: deque[Future] = deque()
        for job in jobs:
            pending.append(self._pool.submit(job))
            while pending and (len(pending) >= depth or pending[0].done()):
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
