"""The encoder's inference path (runtime: batch norm folded, CPU chunks; ONNX Runtime) against the
model's own encoder."""

import pytest
import torch

from captioner.model.config import ModelConfig
from captioner.model.encoder import build_encoder
from captioner.runtime import folded_encoder
from captioner.runtime.folded_encoder import FoldedEncoder
from captioner.runtime.inference import InferenceRuntime
from tests.model.test_encoder import random_torchvision_resnet


class _EncoderOnly(torch.nn.Module):
    """What InferenceRuntime.encode needs of a CaptionModel: its encoder."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder


def _encoder(name, tmp_path):
    if name == "resnet18":
        torch.save(random_torchvision_resnet(name).state_dict(), tmp_path / "r.pth")  # BN is not the identity
        return build_encoder(ModelConfig(encoder=name, encoder_weights=str(tmp_path / "r.pth"), feature_levels=(2, 3), grid_level=3))
    return build_encoder(ModelConfig(feature_levels=(3, 5), grid_level=3))


@pytest.mark.parametrize("name", ["efficientnet_lite0", "resnet18"])
def test_inference_folds_batch_norm_into_the_convolutions(tmp_path, name):
    enc = _encoder(name, tmp_path)
    saved = {k: v.clone() for k, v in enc.state_dict().items()}
    x = torch.randn(9, 3, 96, 96)  # not a whole number of CPU chunks
    runtime = InferenceRuntime(_EncoderOnly(enc))
    with torch.no_grad():
        torch.testing.assert_close(runtime.encode(x), enc(x), rtol=1e-4, atol=1e-4)
    folded = runtime._encoders[96].backbone
    assert folded is not enc.backbone and not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    # the model's own weights, the file format, are untouched
    assert enc.state_dict().keys() == saved.keys() and all(torch.equal(v, saved[k]) for k, v in enc.state_dict().items())
    # a changed statistic or loaded weights are seen after refresh()
    bn = next(m for m in enc.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d))
    bn.running_mean.add_(0.5)
    with torch.no_grad():
        assert not torch.allclose(runtime.encode(x[:2]), enc(x[:2]), rtol=1e-4, atol=1e-4)  # the snapshot
        torch.testing.assert_close(runtime.refresh().encode(x[:2]), enc(x[:2]), rtol=1e-4, atol=1e-4)
    enc.load_state_dict({k: v * 1.01 if v.is_floating_point() else v for k, v in saved.items()})
    with torch.no_grad():
        torch.testing.assert_close(runtime.refresh().encode(x[:2]), enc(x[:2]), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["efficientnet_lite0", "resnet18"])
def test_onnx_runtime_gives_the_same_annotations(tmp_path, name):
    enc = _encoder(name, tmp_path)
    runtime = InferenceRuntime(_EncoderOnly(enc), onnx=True)
    x = torch.randn(9, 3, 96, 96)  # not a whole number of CPU chunks
    with torch.inference_mode():
        out = runtime.encode(x)
    assert runtime.encoder_onnx and not isinstance(runtime._encoders[96], FoldedEncoder)  # it ran on ONNX Runtime
    torch.testing.assert_close(out, enc(x), rtol=1e-4, atol=1e-4)
    enc.load_state_dict({k: v * 1.01 if v.is_floating_point() else v for k, v in enc.state_dict().items()})
    with torch.inference_mode():
        torch.testing.assert_close(runtime.refresh().encode(x[:2]), enc(x[:2]), rtol=1e-4, atol=1e-4)
        other = torch.randn(2, 3, 64, 64)  # another image size: the graph, whose size is fixed, is exported for it
        torch.testing.assert_close(runtime.encode(other), enc(other), rtol=1e-4, atol=1e-4)


def test_an_encoder_that_cannot_be_exported_says_so_in_one_line_and_runs_on_torch(monkeypatch, tmp_path):
    from captioner.runtime.onnx_cache import CACHE_ENV

    enc = build_encoder(ModelConfig(feature_levels=(3,), grid_level=3))
    runtime = InferenceRuntime(_EncoderOnly(enc), onnx=True)

    def refuse(*args, **kwargs):
        raise torch.onnx.errors.UnsupportedOperatorError("aten::made_up", 17, "a long graph dump\n" * 100)

    monkeypatch.setattr(torch.onnx, "export", refuse)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))  # no graph read back from a cache
    x = torch.randn(1, 3, 64, 64)
    with pytest.warns(RuntimeWarning, match="cannot run on ONNX Runtime.*it runs on torch instead") as caught, torch.inference_mode():
        out = runtime.encode(x)
    assert "\n" not in str(caught[0].message)
    assert not runtime.encoder_onnx  # asked once, not at every batch
    torch.testing.assert_close(out, enc(x), rtol=1e-4, atol=1e-4)


def test_a_fold_that_changes_the_maps_is_not_used(monkeypatch):
    fold = folded_encoder.fold_batch_norms

    def broken(backbone):  # as if a convolution's output also went somewhere else
        fold(backbone)
        next(m for m in backbone.modules() if isinstance(m, torch.nn.Conv2d)).weight.mul_(2)
        return backbone

    monkeypatch.setattr(folded_encoder, "fold_batch_norms", broken)
    enc = build_encoder(ModelConfig(feature_levels=(3,), grid_level=3))
    x = torch.randn(2, 3, 64, 64)
    inference = FoldedEncoder(enc, 64)
    with torch.no_grad():
        assert inference.backbone is enc.backbone and torch.equal(inference(x), enc(x))
