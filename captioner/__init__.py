"""captioner: image captioning with visual attention (Show, Attend and Tell)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# The public names, each from the module that defines it, imported on first use: `captioner --help`
# (whose import of captioner.cli runs this file) and the web app's first page then answer without
# loading torch and the model. The command line and the web app take what they need of the engine
# from here (tests/test_architecture.py checks it; docs/architecture.md, "The public surface").
_PUBLIC = {
    "Captioner": "captioner.pipeline",
    "Captioned": "captioner.pipeline",
    "CaptionResult": "captioner.results.result",
    "DecodingOptions": "captioner.decoding.options",
    "HARD_CONTEXTS": "captioner.decoding.options",
    "decoding_options": "captioner.decoding.options",
    "CheckpointError": "captioner.modeldir.directory",  # where it is defined, without torch
    "ImageLoadError": "captioner.images.loading",
    "ModelConfig": "captioner.model.config",
    "NoDefaultModelError": "captioner.pipeline",
    "NonFiniteLossError": "captioner.training.loop",
    "Vocabulary": "captioner.vocab",
    "load_image": "captioner.images.loading",
    "looked_here": "captioner.recognition.naming",
    "tokenize": "captioner.vocab",
}
__all__ = list(_PUBLIC)

if TYPE_CHECKING:  # what type checkers and editors read
    from captioner.decoding.options import HARD_CONTEXTS, DecodingOptions, decoding_options
    from captioner.images.loading import ImageLoadError, load_image
    from captioner.model.config import ModelConfig
    from captioner.modeldir.directory import CheckpointError
    from captioner.pipeline import Captioned, Captioner, NoDefaultModelError
    from captioner.recognition.naming import looked_here
    from captioner.results.result import CaptionResult
    from captioner.training.loop import NonFiniteLossError
    from captioner.vocab import Vocabulary, tokenize


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'captioner' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
