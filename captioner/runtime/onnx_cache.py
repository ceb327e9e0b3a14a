"""Exported ONNX graphs kept on disk, so a model is exported for ONNX Runtime once per machine, not
once per process (the export of an encoder and a decoding step takes seconds; reading them back,
milliseconds).

A graph is filed under a key: the SHA-256 of what it was exported from (every tensor of the module,
by name, dtype, shape and bytes), the export's settings (input shapes, int8, the way a hard model
reads the grid), the versions of torch, timm and ONNX Runtime, and the source of captioner's model
code. Changed weights or code give a new key, never a stale graph.

The folder is $CAPTIONER_CACHE_DIR if set, else $XDG_CACHE_HOME/captioner, else ~/.cache/captioner
(never inside the installed package, which may be read-only); graphs go in its onnx/ sub-folder.
A folder that cannot be written only costs the time of exporting again.

Exporting is serialised: one lock in the process (threads serving a web app's visitors ask for the
same graph at once) and, where the system has them, a file lock across processes; whoever waited
then reads the file the first one wrote. A graph file is written whole (a temporary file renamed),
so a reader never sees half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import torch

from captioner.files import atomic_write

CACHE_ENV = "CAPTIONER_CACHE_DIR"
# The one lock of every ONNX export in this process (onnx_step and onnx_encoder hold it too): torch's
# exporter keeps global state, and a second lock taken in the other order deadlocked two models
# loading at once (one exporting its encoder, the other its decoding step).
EXPORT_LOCK = threading.RLock()
# How many graphs this process exported and read back (tests and the app's messages read them).
counts = {"exported": 0, "loaded": 0}


def cache_dir() -> Path:
    """The captioner cache folder (see the module's docstring); it may not exist yet."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "captioner"


def graph_key(kind: str, settings: dict, tensors: Iterable[tuple[str, torch.Tensor]]) -> str:
    """The key of a graph exported from `tensors` (name, tensor) with `settings` (JSON-able)."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"kind": kind, "settings": settings, "code": _code_version()}, sort_keys=True, default=str).encode())
    for name, tensor in tensors:
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{flat.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(flat.view(torch.uint8).numpy())
    return digest.hexdigest()[:32]


def module_settings(module: torch.nn.Module) -> dict:
    """The plain settings of `module` and its sub-modules (an attention's score function, a hard
    model's flag, a layer's stride): what a graph depends on besides the tensors. Two modules with
    the same tensors but another setting (dot and scaled dot attention) get different keys."""
    plain = (bool, int, float, str, type(None))
    return {
        f"{name}:{type(sub).__name__}": {
            k: v
            for k, v in sorted(vars(sub).items())
            if k != "training"
            and not k.startswith("_")
            and (isinstance(v, plain) or (isinstance(v, tuple) and all(isinstance(x, plain) for x in v)))
        }
        for name, sub in module.named_modules()
    }


def cached_graph(kind: str, settings: dict, tensors: Iterable[tuple[str, torch.Tensor]], export: Callable[[], bytes]) -> bytes:
    """The serialised graph for this key: read from the cache, or made by `export()` (once, under
    the locks) and stored there."""
    path = cache_dir() / "onnx" / f"{kind}-{graph_key(kind, settings, tensors)}.onnx"
    with EXPORT_LOCK, _file_lock(path):
        if path.is_file():
            counts["loaded"] += 1
            return path.read_bytes()
        graph = export()
        counts["exported"] += 1
        _store(path, graph)
        return graph


def _store(path: Path, graph: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, graph)
    except OSError:  # a read-only or full disk: the graph still serves this process
        pass


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on `path`.lock across processes (POSIX); none where it cannot be had."""
    try:
        import fcntl

        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path.with_suffix(".lock"), "a")
    except (ImportError, OSError):
        yield
        return
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        handle.close()  # closing releases the lock


@lru_cache(maxsize=1)
def _code_version() -> dict:
    """What else decides a graph: library versions and the model code's source."""
    import timm

    try:
        import onnxruntime

        runtime = onnxruntime.__version__
    except ImportError:  # pragma: no cover - a dependency of captioner
        runtime = None
    source = hashlib.sha256()
    package = Path(__file__).parent.parent
    for file in sorted([*(package / "runtime").glob("*.py"), *(package / "model").glob("*.py")]):  # the runtime and the model it runs
        source.update(file.read_bytes())
    return {"torch": torch.__version__, "timm": timm.__version__, "onnxruntime": runtime, "source": source.hexdigest()}
