"""Saving and loading models as a directory: config.json + vocab.json + model.safetensors.

Nothing here ever unpickles: safetensors holds only raw tensors, and the config and vocabulary
are JSON. A pickle (or a torch.save zip, which wraps one) offered as a checkpoint is recognised
by its first bytes and refused before anything reads it further: unpickling runs arbitrary code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
from pathlib import Path

import torch

from captioner.files import atomic_write
from captioner.model.config import DEFAULT_ENCODER, ModelConfig
from captioner.model.model import CaptionModel

# The file names and the error live in a torch-free module (the app's first page reads them).
from captioner.modeldir.directory import CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE, CheckpointError  # noqa: F401
from captioner.vocab import Vocabulary

# config.json records the SHA-256 of the files saved with it, and is written last: a folder whose
# files come from different saves (a save killed half-way) refuses to load instead of pairing new
# weights with an old vocabulary. Folders saved before this have no fingerprints and load as before.
FINGERPRINTS_KEY = "sha256"
FINGERPRINTED_FILES = (WEIGHTS_FILE, VOCAB_FILE)
ENCODER_PREFIX = "encoder."
_PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt", ".tar")


def _sniff(path: Path) -> str:
    """'pickle', 'zip' (torch.save), 'safetensors' or 'unknown', from the first bytes only."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head[:1] == b"\x80" and len(head) > 1 and head[1] <= 5:  # pickle protocol 2..5 opcode
        return "pickle"
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if len(head) >= 9:
        (header_len,) = struct.unpack("<Q", head[:8])
        if 0 < header_len < 100_000_000 and head[8:9] == b"{":
            return "safetensors"
    return "unknown"


def _refuse_pickle(path: Path, kind: str) -> None:
    raise CheckpointError(
        f"{path}: refusing to load a {'pickle' if kind == 'pickle' else 'torch.save (pickle) archive'}. "
        f"Unpickling can run arbitrary code, so captioner never does it. A captioner model is a "
        f"directory with {CONFIG_FILE}, {VOCAB_FILE} and {WEIGHTS_FILE} (see save_pretrained)."
    )


def _includes_encoder(config: ModelConfig) -> bool:
    # The frozen default encoder is rebuilt from the bundled ImageNet weights; any other encoder
    # (fine-tuned, or from a user's file that may not exist elsewhere) travels with the model.
    return not (config.encoder == DEFAULT_ENCODER and config.encoder_weights is None and config.finetune_blocks == 0)


def _read_json(path: Path, load):
    try:
        return load(path)
    except (ValueError, TypeError, OSError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise CheckpointError(f"{path}: {exc}") from exc


def _inside(directory: Path, name: str) -> Path:
    """The file `name` (relative to `directory`) if it lies inside `directory`, else CheckpointError."""
    path = (directory / name).resolve()
    if not path.is_relative_to(directory.resolve()):
        raise CheckpointError(
            f"{directory / CONFIG_FILE}: encoder_weights names a file outside the model directory ({name}); a model "
            f"directory loads weights only from inside itself. Pass the file explicitly to use it "
            f"(Captioner.from_pretrained(..., encoder_weights=...))"
        )
    return path


def _check_size(config: ModelConfig, weights: Path) -> None:
    """Refuse, before anything is allocated, a config whose decoder needs more parameters than the
    weights file can hold (at 2 bytes each, float16)."""
    from captioner.model.decoder import Decoder

    with torch.device("meta"):  # shapes only: nothing is allocated
        needed = sum(p.numel() for p in Decoder(config).parameters())
    size = weights.stat().st_size
    if needed * 2 > size:
        raise CheckpointError(
            f"{weights}: config.json asks for {needed:,} decoder parameters (at least {needed * 2:,} bytes), "
            f"the weights file holds {size:,} bytes"
        )


def save_model(model: CaptionModel, vocab: Vocabulary, directory: str | Path, dtype: torch.dtype | None = None) -> Path:
    """Write the model directory atomically (files are written to temporaries, then renamed)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    broken = [name for name, value in model.state_dict().items() if value.is_floating_point() and not bool(torch.isfinite(value).all())]
    if broken:
        raise CheckpointError(f"{directory}: refusing to save a model whose weights are not finite (NaN or inf in {broken[:5]})")
    directory.mkdir(parents=True, exist_ok=True)
    include_encoder = _includes_encoder(model.config)
    tensors = {}
    for name, value in model.state_dict().items():
        if name.startswith(ENCODER_PREFIX) and not include_encoder:
            continue
        value = value.detach().to("cpu")
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        tensors[name] = value.contiguous()
    metadata = {"format": "captioner", "encoder_included": str(include_encoder).lower()}
    atomic_write(directory / WEIGHTS_FILE, lambda p: save_file(tensors, str(p), metadata=metadata))
    atomic_write(directory / VOCAB_FILE, lambda p: vocab.save(p))
    config = {**model.config.to_json(), FINGERPRINTS_KEY: {name: _sha256(directory / name) for name in FINGERPRINTED_FILES}}
    atomic_write(directory / CONFIG_FILE, json.dumps(config, indent=2))
    return directory


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _check_fingerprints(directory: Path, config_path: Path) -> None:
    """CheckpointError unless each file config.json has a fingerprint for is the file saved with it."""
    recorded = _read_json(config_path, lambda p: json.loads(p.read_text())).get(FINGERPRINTS_KEY)
    if recorded is None:
        return  # saved before fingerprints
    if not isinstance(recorded, dict) or not all(isinstance(recorded.get(name), str) for name in FINGERPRINTED_FILES):
        raise CheckpointError(f'{config_path}: "{FINGERPRINTS_KEY}" must map {", ".join(FINGERPRINTED_FILES)} to their SHA-256')
    from captioner.modeldir.folder_files import model_file

    for name in FINGERPRINTED_FILES:
        if _sha256(model_file(directory, name)) != recorded[name]:
            raise CheckpointError(
                f"{directory}: {name} is not the file saved with {CONFIG_FILE} (its SHA-256 differs): the folder "
                f"mixes files of different saves, e.g. a save or export cut off half-way; save or export the model again"
            )


def load_model(
    directory: str | Path, device: str | torch.device = "cpu", encoder_weights: str | Path | None = None
) -> tuple[CaptionModel, Vocabulary]:
    """Load a model directory written by save_model. Never unpickles. Every failure is a
    CheckpointError naming the directory or the file.

    Encoder weights that the model does not carry in its own safetensors are read from a file
    inside the directory that config.json names, or from `encoder_weights` when the caller passes
    it: never from a path outside the directory that config.json names."""
    try:
        return _load_model(Path(directory), device, encoder_weights)
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever a damaged or hostile directory causes deeper down
        raise CheckpointError(f"{directory}: cannot load this model ({type(exc).__name__}: {exc})"[:2000]) from exc


def _load_model(directory: Path, device, encoder_weights: str | Path | None) -> tuple[CaptionModel, Vocabulary]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not directory.exists():
        raise CheckpointError(f"{directory}: no such model directory")
    if directory.is_file():
        kind = _sniff(directory)
        if kind in ("pickle", "zip") or directory.suffix in _PICKLE_SUFFIXES:
            _refuse_pickle(directory, kind)
        raise CheckpointError(f"{directory}: a captioner model is a directory with {CONFIG_FILE}, {VOCAB_FILE} and {WEIGHTS_FILE}")
    missing = [f for f in (CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE) if not (directory / f).is_file()]
    if missing:
        pickles = sorted(p.name for p in directory.iterdir() if p.suffix in _PICKLE_SUFFIXES)
        hint = f"; found {pickles}, which captioner refuses to unpickle" if pickles else ""
        raise CheckpointError(f"{directory}: not a captioner model directory, missing {missing}{hint}")
    from captioner.modeldir.folder_files import check_extras, model_file

    weights = model_file(directory, WEIGHTS_FILE)  # every file read from here on lies inside the folder
    kind = _sniff(weights)
    if kind in ("pickle", "zip"):
        _refuse_pickle(weights, kind)
    if kind != "safetensors":
        raise CheckpointError(f"{weights}: not a safetensors file")
    config = _read_json(model_file(directory, CONFIG_FILE), ModelConfig.load)
    vocab = _read_json(model_file(directory, VOCAB_FILE), Vocabulary.load)
    check_extras(directory)  # what the app shows from the folder: refused now, not shown later
    if config.vocab_size != len(vocab):
        raise CheckpointError(f"{directory}: config says {config.vocab_size} words, vocab.json has {len(vocab)}")
    _check_fingerprints(directory, model_file(directory, CONFIG_FILE))
    _check_size(config, weights)
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{weights}: cannot read safetensors ({exc})") from exc
    broken = [name for name, value in state.items() if value.is_floating_point() and not bool(torch.isfinite(value).all())]
    if broken:  # such a model writes garbage captions and its heatmaps cannot be drawn
        raise CheckpointError(f"{weights}: weights are not finite (NaN or inf in {broken[:5]}); this model cannot caption")
    has_encoder = any(k.startswith(ENCODER_PREFIX) for k in state)
    if encoder_weights is not None:
        config = dataclasses.replace(config, encoder_weights=str(encoder_weights))
    elif config.encoder_weights is not None and not has_encoder:
        config = dataclasses.replace(config, encoder_weights=str(_inside(directory, config.encoder_weights)))
    model = CaptionModel(config, load_encoder_weights=not has_encoder)
    if tuple(model.config.grid_size) != tuple(config.grid_size) or model.config.feature_dim != config.feature_dim:
        raise CheckpointError(
            f"{directory}: encoder now gives grid {model.config.grid_size} x {model.config.feature_dim}, "
            f"the model was trained on {config.grid_size} x {config.feature_dim}"
        )
    expected = model.state_dict()
    for name, value in state.items():
        if name in expected and expected[name].is_floating_point():
            state[name] = value.to(expected[name].dtype)
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise CheckpointError(f"{weights}: weights do not fit the configured model ({exc})") from exc
    missing_keys = [k for k in result.missing_keys if has_encoder or not k.startswith(ENCODER_PREFIX)]
    if missing_keys or result.unexpected_keys:
        raise CheckpointError(f"{weights}: missing tensors {missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}")
    return model.to(device).eval(), vocab
