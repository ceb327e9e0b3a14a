"""captioner: image captioning with visual attention (Show, Attend and Tell)."""

__version__ = "0.1.0"
