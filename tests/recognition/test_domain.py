"""The decoder's domain (captioner/recognition/domain.py): a k-NN test of whether an image comes from
the generated scenes the decoder was trained on."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from captioner.modeldir.directory import CheckpointError
from captioner.pipeline import default_model_dir
from captioner.recognition.domain import DOMAIN_FILE, DecoderDomain

ROOT = Path(__file__).resolve().parents[2]


def clusters(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    inside = torch.rand(n, 6, generator=g) * 0.1 + torch.tensor([1.0, 1.0, 0, 0, 0, 0])
    outside = torch.rand(n, 6, generator=g) * 0.1 + torch.tensor([0, 0, 0, 0, 1.0, 1.0])
    return inside, outside


def test_fitted_domain_holds_its_world_and_not_another(tmp_path):
    train, _ = clusters(200, 0)
    held_out, far = clusters(100, 1)
    domain = DecoderDomain.fit(train, held_out, k=5, percentile=99.0)
    # (B, L, D) annotations; the first `channels` are pooled, further channels are ignored
    as_annotations = lambda pooled: torch.cat([pooled, torch.rand(len(pooled), 4)], 1)[:, None, :].expand(-1, 3, -1)  # noqa: E731
    assert domain.contains(as_annotations(held_out)).float().mean() >= 0.95
    assert not domain.contains(as_annotations(far)).any()
    domain.save(tmp_path / DOMAIN_FILE, about="test")
    loaded = DecoderDomain.for_model_dir(tmp_path)
    assert (loaded.threshold, loaded.k, loaded.channels) == (pytest.approx(domain.threshold), 5, 6)
    assert torch.equal(loaded.contains(as_annotations(far)), domain.contains(as_annotations(far)))


def test_a_folder_without_one_has_none_and_a_bad_one_says_so(tmp_path):
    assert DecoderDomain.for_model_dir(tmp_path) is None
    from safetensors.torch import save_file

    save_file({"references": torch.zeros(10, 4)}, str(tmp_path / DOMAIN_FILE))
    with pytest.raises(ValueError, match="threshold"):
        DecoderDomain.for_model_dir(tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    model = tmp_path / "model"
    model.mkdir()
    (model / DOMAIN_FILE).symlink_to(tmp_path / DOMAIN_FILE)
    with pytest.raises(CheckpointError, match="outside the model folder"):
        DecoderDomain.for_model_dir(model)
    with pytest.raises(ValueError, match="references"):
        DecoderDomain(torch.zeros(3, 4), 0.1, k=5)


def test_the_shipped_domain_leaves_real_photographs_out(one_torch_thread):
    from captioner.pipeline import Captioner

    domain = DecoderDomain.for_model_dir(default_model_dir("objects"))
    assert domain is not None and domain.channels == 112 and 0 < domain.threshold < 1
    captioner = Captioner.from_pretrained(device="cpu", naming=False)
    from PIL import Image

    photos = [Image.open(ROOT / "data" / "photos" / f).convert("RGB") for f in ("cv_dog.jpg", "gc_pliers.jpg", "gc_church.jpg")]
    assert not domain.contains(captioner.encode(photos)).any()
