"""The public entry point: `Captioner` turns images into captions with per-word attention.

    cap = Captioner.from_pretrained()            # the shipped default model
    results = cap.caption(["a.jpg", pil_image, raw_bytes], beam_size=3)
    results[0].text, results[0].words, results[0].attention, results[0].score

The command line and the web app are thin layers over these calls.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from PIL import Image

from captioner.decoding.options import DecodingOptions, decoding_options
from captioner.decoding.search import generate
from captioner.images.loading import ImageInput, ImageLoadError
from captioner.images.stream import ImageStream, LoadedImage, check_count
from captioner.model.config import ModelConfig
from captioner.model.encoder import preprocessor_for
from captioner.model.model import CaptionModel
from captioner.modeldir.checkpoint import WEIGHTS_FILE, CheckpointError, load_model, save_model

# The shipped models' names and place: defined by the model directory, re-exported here.
from captioner.modeldir.directory import (  # noqa: F401 (re-exported)
    DEFAULT_MODEL,
    MODEL_ALIASES,
    PRETRAINED_DIR,
    SHIPPED_MODELS,
    default_model_dir,
    shipped_models,
)
from captioner.results.from_hypotheses import caption_results, drop_unaligned_extras
from captioner.results.result import CaptionResult
from captioner.runtime.inference import InferenceRuntime, check_device
from captioner.vocab import Vocabulary

T = TypeVar("T")
_SINGLE_INPUTS = (str, os.PathLike, bytes, bytearray, memoryview, Image.Image)  # one image, not a list of them


class NoDefaultModelError(CheckpointError):
    """No trained default model ships with this installation."""


@dataclass
class Captioned:
    """One input of `Captioner.stream`: its caption, or why it has none."""

    source: Any  # the input as given
    result: CaptionResult | None = None
    error: ImageLoadError | None = None  # the input is not a readable image
    size: tuple[int, int] | None = None  # (width, height) of the original image, at full scale
    image: Image.Image | None = None  # the image, when the stream was asked to keep it (a large JPEG at a reduced scale)


class Captioner:
    def __init__(self, model: CaptionModel, vocab: Vocabulary, device: str | torch.device = "cpu", int8: bool = False, onnx: bool = False):
        """`int8` decodes with the decoder's per-step projections quantised to int8 (CPU only):
        faster, above all one image at a time, but a few captions can differ from the float model's.
        `onnx` runs the encoder and the decoding step on ONNX Runtime (CPU only): faster, above all
        one image at a time, the same captions to float rounding. Both: the step on ONNX Runtime
        with its products in int8 (the fastest one image at a time)."""
        self.device = torch.device(device)
        check_device(self.device, int8, onnx)  # before the model moves there
        self.model = model.to(self.device).eval()
        # What runs: built from the model's weights on first use; refresh() after changing them.
        self.runtime = InferenceRuntime(self.model, int8=int8, onnx=onnx)
        self.vocab = vocab
        self.preprocessor = preprocessor_for(model.config)
        self.namer = None  # names object words from where they looked (captioner.recognition); see from_pretrained

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    def refresh(self) -> Captioner:
        """Caption with the model's weights as they are now, after loading or training them (the
        runtime keeps a snapshot of them, made on first use)."""
        self.runtime.refresh()
        return self

    # -- construction and persistence --------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path | None = None,
        device: str | torch.device | None = None,
        encoder_weights: str | Path | None = None,
        int8: bool = False,
        onnx: bool = False,
        naming: bool = True,
        detector: bool = True,
    ) -> Captioner:
        """Load a saved model directory, or a shipped model: the default ("objects") when `path` is
        None, or by name ("objects", "shapes", "hard") when no directory of that name exists here.
        `encoder_weights` names the encoder's weights file for a model that does not carry them
        (a model directory's own config may only name a file inside it). `int8`, `onnx`: see `Captioner`.
        `naming`: a model of objects (the default) names the objects it looked at with its encoder's
        ImageNet classifier and a people detector (captioner.recognition); False: the decoder's words only.
        `detector`: False names without the people detector (no people, counts or confirmations by
        detection): about 1.1x the decoder's words alone on the CPU instead of 2-4x (benchmarks/bench_inference).
        Raises CheckpointError."""
        device = device or ("cuda" if torch.cuda.is_available() and not (int8 or onnx) else "cpu")
        named = isinstance(path, str) and (path in SHIPPED_MODELS or path in MODEL_ALIASES)
        if path is None or (named and not Path(path).exists()):
            path = default_model_dir(path or DEFAULT_MODEL)
            if not (path / WEIGHTS_FILE).is_file():
                raise NoDefaultModelError(
                    f"no default model yet: {path} does not exist. Train one (captioner train) and pass its "
                    f"directory, e.g. Captioner.from_pretrained('runs/my-model') or --model runs/my-model"
                )
        model, vocab = load_model(path, device=device, encoder_weights=encoder_weights)
        captioner = cls(model, vocab, device=device, int8=int8, onnx=onnx)
        if naming:
            from captioner.recognition.naming import namer_for

            captioner.namer = namer_for(model, path, vocab=vocab, detector="default" if detector else None)
        return captioner

    @classmethod
    def from_config(cls, config: ModelConfig, vocab: Vocabulary, device: str | torch.device = "cpu") -> Captioner:
        """A new, untrained model (random decoder, pretrained encoder) for the given vocabulary."""
        return cls(CaptionModel(dataclasses.replace(config, vocab_size=len(vocab))), vocab, device=device)

    def save_pretrained(self, directory: str | Path, dtype: torch.dtype | None = None) -> Path:
        """Write config.json, vocab.json and model.safetensors (optionally in float16)."""
        return save_model(self.model, self.vocab, directory, dtype=dtype)

    # -- inference ------------------------------------------------------------------------------

    def caption(
        self,
        images: Sequence[ImageInput] | ImageInput,
        options: DecodingOptions | None = None,
        batch_size: int = 32,
        **decoding: Any,
    ) -> list[CaptionResult]:
        """Caption images given as paths, raw bytes or PIL images. Decoding follows `options`
        (default DecodingOptions()) with keyword overrides, e.g. beam_size=1, block_trigrams=True.
        Raises ImageLoadError (naming the image) for an input that is not a readable image."""
        if isinstance(images, _SINGLE_INPUTS):
            images = [images]
        elif images is None or isinstance(images, (dict, set, frozenset)) or not isinstance(images, Iterable):
            raise ValueError(f"images must be a path, bytes or a PIL image, or a list of them; got {type(images).__name__}")
        results = []
        for item in self.stream(images, decoding_options(options, **decoding), batch_size=batch_size):
            if item.error is not None:
                raise item.error
            results.append(item.result)
        return results

    def stream(
        self,
        inputs: Iterable[ImageInput],
        options: DecodingOptions = DecodingOptions(),
        batch_size: int = 32,
        workers: int = 2,
        keep_images: bool = False,
        finish: Callable[[Captioned], T] | None = None,
    ) -> Iterator[Captioned] | Iterator[T]:
        """Caption `inputs` and yield one `Captioned` per input, in input order; an unreadable
        input gets its error and the others go on. This is the one captioning path: the library,
        batch captioning, evaluation and the demo all run on it.

        `workers` background threads read, decode and resize the images (PIL releases the GIL
        while it does) while the model captions the previous batch. `keep_images` keeps each
        original image in its Captioned; `finish`, if given, runs on each Captioned in those
        threads (drawing heatmaps, say) and its return value is what is yielded. A JPEG given as a
        path or bytes is decoded at a reduced scale when it is large (no side below six times the
        model's input: Preprocessor.source_side), the kept image too."""
        check_count("batch_size", batch_size)
        # The people detector's copy of each image is made in the reading threads too.
        view = self.namer.image_view if self.namer is not None else None
        with ImageStream(self.preprocessor, workers, view=view) as stream:
            batches = stream.batches(inputs, batch_size, keep_images)
            jobs = (partial(finish or _same, item) for item in self._captioned(batches, options))
            yield from stream.in_order(jobs, depth=2 * workers)

    def encoded(
        self, inputs: Iterable[ImageInput], batch_size: int = 32, workers: int = 2, frozen: bool = False
    ) -> Iterator[tuple[list[LoadedImage], torch.Tensor | None]]:
        """The encoder's annotations, batch by batch: (the batch's loaded inputs, annotations of its
        readable ones (R, L, D) or None if none is readable). Images are read in background threads.
        With `frozen`, the output of the encoder's frozen part instead (R, P)."""
        with ImageStream(self.preprocessor, workers) as stream:
            for chunk in stream.batches(inputs, batch_size):
                yield chunk, self._encode_readable(chunk, frozen)

    def _captioned(self, batches: Iterable[list[LoadedImage]], options: DecodingOptions) -> Iterator[Captioned]:
        for chunk in batches:
            features = self._encode_readable(chunk)
            readable = [loaded for loaded in chunk if loaded.error is None]
            results = iter(self.decode(features, options, images=[(r.seen, r.size) for r in readable]) if features is not None else [])
            for loaded in chunk:
                result = next(results) if loaded.error is None else None
                yield Captioned(loaded.source, result, loaded.error, loaded.size, loaded.image)

    def encode(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """RGB PIL images -> annotations (B, L, D)."""
        return self._encode_arrays([self.preprocessor.resize(im) for im in images])

    def _encode_readable(self, chunk: list[LoadedImage], frozen: bool = False) -> torch.Tensor | None:
        readable = [loaded.pixels for loaded in chunk if loaded.error is None]
        return self._encode_arrays(readable, frozen) if readable else None

    @torch.inference_mode()
    def _encode_arrays(self, arrays: Sequence[np.ndarray], frozen: bool = False) -> torch.Tensor:
        pixels = self.preprocessor.batch(arrays, self.device)
        return self.model.encode_frozen(pixels) if frozen else self.runtime.encode(pixels)

    @torch.inference_mode()
    def decode(
        self, features: torch.Tensor, options: DecodingOptions | None = None, images: Sequence | None = None, **decoding: Any
    ) -> list[CaptionResult]:
        """Captions for a batch of annotations (B, L, D), decoded as `options` (with keyword overrides) say.
        `images`: (PIL image for the people detector or None, original (width, height)) per image."""
        options = decoding_options(options, **decoding)
        hypotheses = generate(self.runtime.step(options.hard_context), features, options)
        # A grid self-attention model's maps come with the hypotheses: the runtime's step kept them
        # from the refinement its start did, so the layer runs once per image.
        results = caption_results(hypotheses, self.vocab, self.config.grid_size, hypotheses.grid_attention)
        if self.namer is not None:
            self.namer.rename_all(results, features, images)
            for result in results:
                drop_unaligned_extras(result)
        return results


def _same(item: T) -> T:
    return item
