"""Writing files atomically: a reader (or a run killed half-way) sees the old file or the whole
new one, never a part."""

from __future__ import annotations

import ctypes
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


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


_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where that is not available."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: this kernel or file system cannot exchange
        return False
    raise OSError(errno, os.strerror(errno), str(b))


def replace_directory(new: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Put the finished directory `new` in the place of `target` (which may exist) and delete the
    old one. Readers, and a run killed at any moment, see the whole old directory or the whole new
    one: the two are swapped in one step where the system allows it (Linux); elsewhere the old one
    is renamed aside first, so at worst `target` is briefly missing, never a mix. `new` must be on
    `target`'s file system (beside it)."""
    new, target = Path(new), Path(target)
    if not os.path.lexists(target):
        os.rename(new, target)
        return target
    if _exchange(new, target):
        shutil.rmtree(new)  # now the old directory
        return target
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    os.rename(target, aside / target.name)
    os.rename(new, target)
    shutil.rmtree(aside)
    return target


def finite_json(obj, **kwargs) -> str:
    """json.dumps with NaN and infinities written as null: bare NaN is not JSON, and other tools
    (jq, browsers, JSON.parse) refuse a file holding it."""
    return json.dumps(_finite(obj), allow_nan=False, **kwargs)


def _finite(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: _finite(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(value) for value in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", None) == 0:  # a numpy or torch scalar
        return _finite(obj.item())
    return obj
