import pytest
import torch
from timm.data import ImageNetInfo

from captioner.model.config import ModelConfig
from captioner.model.encoder import EncoderWeightsError, build_encoder, bundled_lite0_state_dict
from captioner.model.preprocess import Preprocessor


@pytest.fixture(scope="module")
def lite0_classifier():
    import timm

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    model.load_state_dict(bundled_lite0_state_dict(), strict=True)
    return model.eval()


@pytest.mark.parametrize(
    "photo, expected",
    [("chelsea", {"tabby", "tiger cat", "Egyptian cat"}), ("coffee", {"espresso"})],
)
def test_bundled_imagenet_weights_are_really_loaded(lite0_classifier, photos, photo, expected):
    prep = Preprocessor.for_config(ModelConfig())
    with torch.inference_mode():
        logits = lite0_classifier(prep([photos[photo]]))
    info = ImageNetInfo()
    top3 = {info.index_to_description(i).split(",")[0] for i in logits[0].topk(3).indices.tolist()}
    assert top3 & expected, f"{photo}: top-3 {top3}"


def test_encoder_uses_the_bundled_weights_and_gives_a_14x14_grid():
    enc = build_encoder(ModelConfig())
    reference = bundled_lite0_state_dict()
    assert torch.equal(enc.backbone.conv_stem.weight, reference["conv_stem.weight"])
    assert torch.equal(enc.backbone.blocks[4][0].conv_pw.weight, reference["blocks.4.0.conv_pw.weight"])
    assert enc.grid_size(224) == (14, 14)
    assert enc.feature_dim == 112 + 320
    with torch.inference_mode():
        feats = enc(torch.randn(2, 3, 224, 224))
    assert feats.shape == (2, 196, 432)
    assert not hasattr(enc.backbone, "conv_head") or enc.backbone.conv_head is None or isinstance(enc.backbone.conv_head, torch.nn.Identity)


def test_a_finer_level_is_average_pooled_to_the_grid_level():
    enc = build_encoder(ModelConfig(feature_levels=(2, 3, 4), grid_level=3))
    assert enc.grid_size(224) == (14, 14) and enc.feature_dim == 40 + 112 + 320
    x = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        feats = enc(x)
        stride8, stride16, stride32 = enc.backbone.forward_intermediates(x, indices=[2, 3, 4], intermediates_only=True)
    assert feats.shape == (2, 196, 472)
    grid = feats.transpose(1, 2).reshape(2, 472, 14, 14)
    pooled = (stride8[:, :, 0::2, 0::2] + stride8[:, :, 1::2, 0::2] + stride8[:, :, 0::2, 1::2] + stride8[:, :, 1::2, 1::2]) / 4
    torch.testing.assert_close(grid[:, :40], pooled, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(grid[:, 40:152], stride16, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(grid[:, 152:], stride32.repeat_interleave(2, -1).repeat_interleave(2, -2), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="grid_level 1 is not one of feature_levels"):
        build_encoder(ModelConfig(feature_levels=(2, 3), grid_level=1))


def test_frozen_by_default_and_fine_tuning_opens_the_last_blocks():
    frozen = build_encoder(ModelConfig())
    assert not any(p.requires_grad for p in frozen.parameters())
    tuned = build_encoder(ModelConfig(finetune_blocks=2))
    trainable = {n.split(".")[1:4] and ".".join(n.split(".")[:4]) for n, p in tuned.named_parameters() if p.requires_grad}
    assert trainable == {"backbone.blocks.6.0", "backbone.blocks.5.3"}
    tuned.train()
    assert not tuned.backbone.training  # batch-norm statistics stay frozen


def test_torchvision_resnet_from_a_local_file(tmp_path):
    import torchvision

    net = torchvision.models.resnet18(weights=None)
    torch.save(net.state_dict(), tmp_path / "resnet18.pth")
    enc = build_encoder(ModelConfig(encoder="resnet18", encoder_weights=str(tmp_path / "resnet18.pth"), feature_levels=(3, 4)))
    assert torch.equal(enc.backbone.layers[3][1].conv2.weight, net.layer4[1].conv2.weight)
    with torch.inference_mode():
        assert enc(torch.randn(1, 3, 224, 224)).shape == (1, 196, 256 + 512)
    assert Preprocessor.for_config(ModelConfig(encoder="resnet18")).mean == (0.485, 0.456, 0.406)


@pytest.mark.parametrize("name", ["resnet101", "timm:resnet50"])
def test_missing_weights_name_the_option(name):
    with pytest.raises(EncoderWeightsError, match="encoder_weights") as info:
        build_encoder(ModelConfig(encoder=name))
    assert "--encoder-weights" in str(info.value) and "offline" in str(info.value)


def test_wrong_weights_file_is_a_clear_error(tmp_path):
    torch.save({"conv1.weight": torch.zeros(3)}, tmp_path / "w.pth")
    with pytest.raises(EncoderWeightsError, match="does not fit"):
        build_encoder(ModelConfig(encoder="resnet18", encoder_weights=str(tmp_path / "w.pth")))
    with pytest.raises(EncoderWeightsError, match="not found"):
        build_encoder(ModelConfig(encoder="resnet18", encoder_weights=str(tmp_path / "missing.pth")))


def test_unknown_encoder():
    with pytest.raises(ValueError, match="unknown encoder 'vgg16'"):
        build_encoder(ModelConfig(encoder="vgg16"))


def test_the_head_level_is_what_the_imagenet_classifier_reads(lite0_classifier):
    enc = build_encoder(ModelConfig(feature_levels=(3, 5), grid_level=3))
    assert enc.feature_dim == 112 + 1280 and enc.grid_size(224) == (14, 14)
    x = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        grid = enc(x).transpose(1, 2).reshape(2, 1392, 14, 14)
        head = lite0_classifier.forward_features(x)  # (2, 1280, 7, 7) after conv_head + bn2
    torch.testing.assert_close(grid[:, 112:, ::2, ::2], head, rtol=1e-4, atol=1e-4)
    # the classifier itself is not kept
    assert isinstance(enc.backbone.classifier, torch.nn.Identity)
    # a saved model rebuilds the same architecture without the ImageNet weights
    bare = build_encoder(ModelConfig(feature_levels=(3, 5), grid_level=3), load_weights=False)
    assert set(bare.state_dict()) == set(enc.state_dict())
