"""What a saved model directory holds, and where the shipped ones are: names only, no torch, so the
web app's first page and the command line's help can read them without loading it
(checkpoint.py and pipeline.py re-export these names)."""

from __future__ import annotations

from pathlib import Path

CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE = "config.json", "vocab.json", "model.safetensors"
KNOWN_OBJECTS_FILE = "objects.json"  # a model of photographed objects: the objects it was trained to name

# Where the shipped models live (inside the installed package).
PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "pretrained"
DEFAULT_MODEL = "objects"
# The default knows photographed objects; "shapes" and "hard" (soft and hard attention) know the
# coloured-shapes scenes, where attention can be measured exactly; "shapes-*" are the attention lab's
# variants of "shapes" (docs/attention-lab.md), small, for comparing side by side.
SHAPES_VARIANTS = ("shapes-local", "shapes-sentinel", "shapes-self-attention")
SHIPPED_MODELS = ("objects", "shapes", "hard", *SHAPES_VARIANTS)
MODEL_ALIASES = {"soft": "shapes"}  # the shapes model's name before the objects model shipped


class CheckpointError(ValueError):
    """A model directory is missing, incomplete, unsafe or does not fit this version."""


def default_model_dir(name: str = DEFAULT_MODEL, pretrained_dir: Path | None = None) -> Path:
    return (pretrained_dir or PRETRAINED_DIR) / MODEL_ALIASES.get(name, name)


def shipped_models(pretrained_dir: Path | None = None) -> list[str]:
    """Names of the shipped models present in this installation (the default first)."""
    return [n for n in SHIPPED_MODELS if ((pretrained_dir or PRETRAINED_DIR) / n / WEIGHTS_FILE).is_file()]
