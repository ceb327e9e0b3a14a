"""Reading the files of a model folder safely.

Model folders arrive as archives, which keep symlinks: a README.md that points at /etc/passwd or
/proc/self/environ would otherwise be shown by the web app to every visitor. Every file captioner
reads from a model folder (config, vocabulary, weights, card, list of known objects) goes through
`model_file`: a regular file whose resolved path lies inside the folder, or a CheckpointError.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

from captioner.modeldir.directory import KNOWN_OBJECTS_FILE, CheckpointError

CARD_FILE = "README.md"
# A card or list of objects is a few kilobytes; one far larger is no card (and would be shown whole).
MAX_TEXT_BYTES = 1 << 20


def model_file(directory: str | Path, name: str) -> Path:
    """The resolved path of `name` in the model folder `directory`; CheckpointError unless it is a
    regular file inside the folder (a symlink may point only at another file of the folder)."""
    directory = Path(directory)
    try:
        root = directory.resolve(strict=True)
        path = (directory / name).resolve(strict=True)
        info = path.stat()
    except (OSError, RuntimeError) as exc:  # missing, a symlink loop, no permission
        raise CheckpointError(f"{directory / name}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from exc
    if not path.is_relative_to(root):
        raise CheckpointError(f"{directory / name}: a link to a file outside the model folder; a model folder's files must lie inside it")
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(f"{directory / name}: not a regular file")
    return path


def read_model_text(directory: str | Path, name: str, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """The UTF-8 text of a small file of the model folder (model_file's checks, then size and encoding)."""
    path = model_file(directory, name)
    with open(path, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise CheckpointError(f"{Path(directory) / name}: larger than {max_bytes:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CheckpointError(f"{Path(directory) / name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def read_model_json(directory: str | Path, name: str, max_bytes: int = MAX_TEXT_BYTES):
    """A JSON file of the model folder, parsed (read_model_text's checks, then the JSON's)."""
    text = read_model_text(directory, name, max_bytes)
    try:
        return json.loads(text)
    except RecursionError:
        raise CheckpointError(f"{Path(directory) / name}: JSON nested too deeply") from None
    except ValueError as exc:
        raise CheckpointError(f"{Path(directory) / name}: not valid JSON ({exc})") from None


def check_extras(directory: str | Path) -> None:
    """The model card and the list of known objects, when the folder has them (a link counts),
    must be readable as above; the list must also parse. Raises CheckpointError."""

    directory = Path(directory)
    if (directory / CARD_FILE).is_symlink() or (directory / CARD_FILE).exists():
        read_model_text(directory, CARD_FILE)
    if (directory / KNOWN_OBJECTS_FILE).is_symlink() or (directory / KNOWN_OBJECTS_FILE).exists():
        read_model_json(directory, KNOWN_OBJECTS_FILE)
