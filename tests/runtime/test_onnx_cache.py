"""Exported ONNX graphs on disk (captioner/runtime/onnx_cache.py): once per weights, under a lock."""

import threading
from pathlib import Path

import pytest
import torch

from captioner.model.decoder import Decoder
from captioner.runtime import onnx_cache
from captioner.runtime.decoding_step import MergedStep, ReferenceStep
from captioner.runtime.onnx_step import OnnxStep
from tests.conftest import small_decoder_config


@torch.no_grad()
def _example(dec: Decoder) -> tuple:
    features = torch.randn(1, 12, 16)
    keys, (h, c) = MergedStep(dec).start(features)
    return torch.zeros(1, dtype=torch.long), h, c, features, keys


def _onnx_step(dec: Decoder, example: tuple, int8: bool = False) -> OnnxStep:
    """An ONNX Runtime step, its graph exported (or read back) by a first call."""
    step = OnnxStep(MergedStep(dec), int8=int8)
    step(example[0], example[1:3], *example[3:])
    return step


def _reference(dec: Decoder, example: tuple) -> torch.Tensor:
    features = example[3]
    keys, _ = dec.start(features)
    return ReferenceStep(dec)(example[0], example[1:3], features, keys)[0]


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(onnx_cache.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(onnx_cache, "counts", {"exported": 0, "loaded": 0})
    return tmp_path / "cache"


def test_the_cache_folder_is_the_variable_or_the_user_cache_never_the_package(monkeypatch, tmp_path):
    monkeypatch.delenv(onnx_cache.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert onnx_cache.cache_dir() == tmp_path / "xdg" / "captioner"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert onnx_cache.cache_dir() == Path.home() / ".cache" / "captioner"
    monkeypatch.setenv(onnx_cache.CACHE_ENV, str(tmp_path / "mine"))
    assert onnx_cache.cache_dir() == tmp_path / "mine"


@torch.no_grad()
def test_threads_asking_at_once_export_once_and_the_others_read_the_file(cache, vocab):
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(len(vocab))).eval()
    example = _example(dec)
    steps, errors = [], []

    def make():
        try:
            steps.append(_onnx_step(dec, example))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=make) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(steps) == 4
    assert onnx_cache.counts == {"exported": 1, "loaded": 3}
    assert len(list((cache / "onnx").glob("step-*.onnx"))) == 1
    outputs = [step(*example[:1], example[1:3], *example[3:]) for step in steps]
    for out in outputs[1:]:
        torch.testing.assert_close(out[0], outputs[0][0])


@torch.no_grad()
def test_new_weights_or_settings_make_a_new_graph_never_a_stale_one(cache, vocab):
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(len(vocab))).eval()
    example = _example(dec)
    first = _onnx_step(dec, example)
    _onnx_step(dec, example, int8=True)
    with torch.no_grad():
        dec.out.weight.mul_(1.5)  # (a bias added to every word would leave log_softmax as it is)
    changed = _onnx_step(dec, example)
    assert onnx_cache.counts["exported"] == 3 and len(list((cache / "onnx").glob("*.onnx"))) == 3
    tokens, state, rest = example[0], example[1:3], example[3:]
    torch.testing.assert_close(changed(tokens, state, *rest)[0], _reference(dec, example), rtol=1e-4, atol=1e-5)
    assert not torch.allclose(first(tokens, state, *rest)[0], changed(tokens, state, *rest)[0])


@torch.no_grad()
def test_a_cache_that_cannot_be_written_still_gives_the_graph(tmp_path, monkeypatch, vocab):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(onnx_cache.CACHE_ENV, str(blocker / "cache"))
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(len(vocab))).eval()
    example = _example(dec)
    step = _onnx_step(dec, example)
    tokens, state, rest = example[0], example[1:3], example[3:]
    torch.testing.assert_close(step(tokens, state, *rest)[0], _reference(dec, example), rtol=1e-4, atol=1e-5)


def test_two_threads_exporting_an_encoder_and_a_step_at_once_do_not_deadlock(tmp_path, monkeypatch):
    """The encoder's export takes the exporter's lock inside cached_graph, the step's takes it
    before: with two locks, two models loading at once (the web app's compare view) deadlocked."""
    import time

    from captioner.runtime import onnx_step

    monkeypatch.setenv(onnx_cache.CACHE_ENV, str(tmp_path))
    exporting = threading.Event()

    def encoder_like():  # as OnnxEncoder: cached_graph, whose export takes the exporter's lock
        def export():
            exporting.set()
            time.sleep(0.3)
            with onnx_step.EXPORT_LOCK:
                return b"encoder"

        onnx_cache.cached_graph("encoder", {}, [], export)

    def step_like():  # as OnnxStep._session: the exporter's lock, then cached_graph
        exporting.wait(10)
        with onnx_step.EXPORT_LOCK:
            onnx_cache.cached_graph("step", {}, [], lambda: b"step")

    threads = [threading.Thread(target=run, daemon=True) for run in (encoder_like, step_like)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert not any(thread.is_alive() for thread in threads), "the two exports deadlocked"
