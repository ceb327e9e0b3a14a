"""captioner: image captioning with visual attention (Show, Attend and Tell)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# The public names, each from the module that defines it, imported on first use: `captioner --help`
# (whose import of captioner.cli runs this file) then answers without loading torch and the model.
_PUBLIC = {
    "Captioner": "captioner.pipeline",
    "Captioned": "captioner.pipeline",
    "CaptionResult": "captioner.results.result",
    "DecodingOptions": "captioner.decoding.options",
    "CheckpointError": "captioner.modeldir.checkpoint",
    "ImageLoadError": "captioner.images.loading",
    "ModelConfig": "captioner.model.config",
    "NoDefaultModelError": "captioner.pipeline",
    "Vocabulary": "captioner.vocab",
    "load_image": "captioner.images.loading",
    "tokenize": "captioner.vocab",
}
__all__ = list(_PUBLIC)

if TYPE_CHECKING:  # what type checkers and editors read
    from captioner.decoding.options import DecodingOptions
    from captioner.images.loading import ImageLoadError, load_image
    from captioner.model.config import ModelConfig
    from captioner.modeldir.checkpoint import CheckpointError
    from captioner.pipeline import Captioned, Captioner, NoDefaultModelError
    from captioner.results.result import CaptionResult
    from captioner.vocab import Vocabulary, tokenize


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'captioner' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
