"""Writing files atomically: a reader (or a run killed half-way) sees the old file or the whole
new one, never a part."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


def atomic_write(target: str | os.PathLike, data: bytes | str | Callable[[Path], None], mode: int = 0o644) -> Path:
    """Write `data` (bytes, text, or a function that writes a given path) to a temporary file
    beside `target`, then rename it over `target`."""
    target = Path(target)
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        if callable(data):
            data(Path(tmp))
        else:
            Path(tmp).write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(tmp, mode)  # mkstemp creates 0600; what captioner writes is meant to be read by others too
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
