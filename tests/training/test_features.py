"""Training's feature cache reads images with the captioning path's image stream and encodes them
with the model alone (no Captioner): the same annotations captioning computes."""

import numpy as np
import pytest
import torch

from captioner import ImageLoadError
from captioner.training.features import extract_features, in_eval_mode


@pytest.fixture
def image_files(photos, tmp_path):
    files = []
    for name in ("coffee", "chelsea"):
        photos[name].resize((80, 60)).save(tmp_path / f"{name}.png")
        files.append(tmp_path / f"{name}.png")
    return files


def test_the_cache_holds_what_captioning_encodes(small_captioner, image_files, one_torch_thread):
    cached = extract_features(small_captioner.model, image_files, batch_size=1)
    encoded = torch.cat([features for _, features in small_captioner.encoded(image_files, batch_size=1)])
    assert cached.dtype == np.float16 and cached.shape == tuple(encoded.shape)
    assert np.array_equal(cached, encoded.to(torch.float16).numpy())


def test_an_unreadable_image_is_named(small_captioner, image_files, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    with pytest.raises(ImageLoadError, match="broken.jpg"):
        extract_features(small_captioner.model, [image_files[0], broken], tmp_path / "features.npy")
    assert not (tmp_path / "features.npy").exists()


def test_a_model_in_training_mode_is_encoded_as_in_eval_mode_and_left_as_it_was(small_captioner, image_files):
    model = small_captioner.model
    expected = extract_features(model.eval(), image_files[:1])
    model.train()
    try:
        assert np.array_equal(extract_features(model, image_files[:1]), expected) and model.training
    finally:
        model.eval()


def test_in_eval_mode_restores_the_mode_after_an_error():
    module = torch.nn.Linear(2, 2).train()
    with pytest.raises(RuntimeError), in_eval_mode(module):
        assert not module.training
        raise RuntimeError
    assert module.training
