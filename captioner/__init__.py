"""captioner: image captioning with visual attention (Show, Attend and Tell)."""

from captioner.modeldir.checkpoint import CheckpointError
from captioner.model.config import ModelConfig
from captioner.images.loading import ImageLoadError, load_image
from captioner.pipeline import CaptionResult, Captioner, NoDefaultModelError
from captioner.vocab import Vocabulary, tokenize

__version__ = "0.1.0"
__all__ = [
    "Captioner",
    "CaptionResult",
    "CheckpointError",
    "ImageLoadError",
    "ModelConfig",
    "NoDefaultModelError",
    "Vocabulary",
    "load_image",
    "tokenize",
]
