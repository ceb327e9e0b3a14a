"""Shared fixtures: small models and real photographs (scikit-image's bundled samples)."""

from __future__ import annotations

import fnmatch

import pytest
import torch
from PIL import Image

from captioner.model.config import ModelConfig
from captioner.vocab import Vocabulary

WORDS = ["a", "red", "blue", "green", "circle", "square", "triangle", "left", "of", "above", "the", "small", "large"]


@pytest.fixture(scope="session")
def vocab() -> Vocabulary:
    return Vocabulary(["<pad>", "<start>", "<end>", "<unk>"] + WORDS)


def small_decoder_config(vocab_size: int, **overrides) -> ModelConfig:
    """A decoder small enough for fast tests, on a 3x4 grid of 16-d features."""
    base = dict(
        embed_dim=16, hidden_dim=24, attention_dim=12, dropout=0.0, feature_dim=16, grid_size=(3, 4), vocab_size=vocab_size, max_len=8
    )
    base.update(overrides)
    return ModelConfig(**base)


@pytest.fixture(scope="session")
def photos() -> dict[str, Image.Image]:
    from skimage import data

    return {name: Image.fromarray(getattr(data, name)()) for name in ("chelsea", "coffee", "astronaut", "rocket")}


# The attention lab's variants (docs/attention-lab.md) as small_decoder_config overrides: each alone, and all together.
LAB_VARIANTS = {
    "local": dict(local_sigma=1.0),
    "sentinel": dict(sentinel=True),
    "sentinel_output": dict(sentinel=True, sentinel_context="output"),  # Lu's wiring: the mixed context to the output only
    "grid_self_attention": dict(grid_self_attention_heads=2),
    "all": dict(local_sigma=1.5, sentinel=True, grid_self_attention_heads=4),
}


def caption_batch(vocab_size: int, B: int = 3, T: int = 6, seed: int = 1, lengths: dict[int, int] | None = None):
    """Annotations (B, 12, 16) for small_decoder_config's grid and captions (B, T + 1) from <start>;
    `lengths`: {row: targets before its padding}."""
    g = torch.Generator().manual_seed(seed)
    feats, caps = torch.randn(B, 12, 16, generator=g), torch.randint(4, vocab_size, (B, T + 1), generator=g)
    caps[:, 0] = 1
    for row, n in (lengths or {}).items():
        caps[row, n + 1 :] = 0
    return feats, caps


def step_by_step(decoder, feats, caps) -> list:
    """Decoder.step over the captions' words, as a search would feed them: one DecoderStep per position."""
    keys, state = decoder.start(feats)
    steps = []
    for t in range(caps.shape[1] - 1):
        steps.append(decoder.step(caps[:, t], state, feats, keys))
        state = steps[-1].state
    return steps


def parameters_without_gradient(decoder, module, vocab_size: int) -> list[str]:
    """Names of `module`'s parameters that the words' loss of a teacher-forced batch leaves without gradient."""
    feats, caps = caption_batch(vocab_size, B=2, T=4)
    out = decoder.train()(feats, caps)
    torch.nn.functional.cross_entropy(out.logits.reshape(-1, vocab_size), caps[:, 1:].reshape(-1)).backward()
    return [n for n, p in module.named_parameters() if p.grad is None or not p.grad.any()]


@pytest.fixture(scope="session")
def small_captioner(vocab):
    """A randomly initialised decoder on the real default encoder (pretrained Lite0)."""
    from captioner import Captioner

    torch.manual_seed(0)
    config = ModelConfig(embed_dim=32, hidden_dim=48, attention_dim=32, dropout=0.0, max_len=10)
    return Captioner.from_config(config, vocab)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread while these tests run: the test machines' two cores are shared with other
    work, and two OpenMP threads then wait on each other often enough to make the model ~10x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# Test tiers (pyproject's markers; docs/testing.md). A bare `pytest` runs what no pattern here marks:
# unit tests that need neither Java, nor Chromium, nor the Tux Paint stamps, nor minutes.
# Patterns are fnmatch patterns over test node ids; a test may also carry its marker itself.
TIERS = {
    "browser": ["tests/test_app_browser.py::*"],
    "quality": [
        "tests/model/test_pretrained.py::*",
        "tests/model/test_pretrained_objects.py::*",
    ],
    "integration": [
        "tests/images/test_loading_fuzz.py::*",
        "tests/evaluation/test_caption_metrics.py::*",  # Java: PTB tokenizer and METEOR
        "tests/evaluation/test_evaluate.py::*",  # Java, through evaluate
        "*torchrun*",
        "tests/training/test_train.py::test_training_learns_*",
        "tests/training/test_train.py::test_run_writes_*",
        "tests/training/test_train.py::test_resume_reaches_*",
        "tests/training/test_train.py::test_fine_tuning_*",
        "tests/training/test_train.py::test_training_is_reproducible_*",
        "tests/training/test_train.py::test_feature_cache_is_reused",
        "tests/training/test_train.py::test_a_damaged_checkpoint_*",
    ],
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        for marker, patterns in TIERS.items():
            if any(fnmatch.fnmatchcase(item.nodeid, p) for p in patterns):
                item.add_marker(getattr(pytest.mark, marker))


@pytest.fixture(scope="session", autouse=True)
def onnx_cache_in_a_temporary_folder(tmp_path_factory):
    """Graphs the tests export go to a folder of this session, never to the user's cache."""
    import os

    from captioner.runtime.onnx_cache import CACHE_ENV

    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("captioner-cache"))
    yield
    if before is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = before
