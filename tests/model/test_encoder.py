import json

import pytest
import torch
from timm.data import ImageNetInfo

from captioner.model.config import ModelConfig
from captioner.model.encoder import EncoderWeightsError, build_encoder, bundled_lite0_state_dict, preprocessor_for


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
    prep = preprocessor_for(ModelConfig())
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


@pytest.mark.parametrize("levels, blocks", [((3, 5), 1), ((3, 5), 2), ((2, 3, 4), 2), ((3,), 4)])
def test_the_frozen_part_then_the_trainable_blocks_equal_the_whole_encoder(levels, blocks):
    # (3,) with 4 blocks: its level comes out of the trainable part; (2, 3, 4) with 2: two levels
    # are complete in the frozen part, the last is not; (3, 5): the head conv runs after the blocks.
    enc = build_encoder(ModelConfig(feature_levels=levels, grid_level=3, finetune_blocks=blocks)).eval()
    torch.manual_seed(0)
    x = torch.randn(2, 3, 160, 160)
    with torch.no_grad():
        frozen = enc.frozen_part(x)
        torch.testing.assert_close(enc.from_frozen_part(frozen), enc(x), rtol=1e-5, atol=1e-5)
    assert len(frozen) == 1 + sum(level < 3 or (level == 3 and blocks < 4) for level in levels if level != 5)
    trainable = {n for n, p in enc.named_parameters() if p.requires_grad}
    assert any(n.startswith("backbone.conv_head") for n in trainable) == (5 in levels)
    with pytest.raises(ValueError, match="no trainable part"):
        build_encoder(ModelConfig(feature_levels=levels, grid_level=3)).frozen_part(x)
    with pytest.raises(ValueError, match="has only 16 blocks"):
        build_encoder(ModelConfig(feature_levels=(3, 5), grid_level=3, finetune_blocks=17))


def random_torchvision_resnet(name: str, seed: int = 0):
    """torchvision's ResNet with random weights and random batch-norm statistics (so that batch
    norm is not the identity), in eval mode."""
    import torchvision

    torch.manual_seed(seed)
    net = getattr(torchvision.models, name)(weights=None)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
    return net.eval()


def torchvision_levels(net, x):
    """The five levels as the earlier hand-written trunk computed them from torchvision's modules:
    0 stem (conv1, bn1, relu), then maxpool and 1..4 = layer1..layer4."""
    stem = net.relu(net.bn1(net.conv1(x)))
    levels, h = [stem], net.maxpool(stem)
    for layer in (net.layer1, net.layer2, net.layer3, net.layer4):
        h = layer(h)
        levels.append(h)
    return levels


@pytest.mark.parametrize("name, channels", [("resnet18", [64, 64, 128, 256, 512]), ("resnet50", [64, 256, 512, 1024, 2048])])
def test_a_torchvision_resnet_file_gives_torchvisions_features(tmp_path, name, channels):
    net = random_torchvision_resnet(name)
    torch.save(net.state_dict(), tmp_path / f"{name}.pth")  # with its fc, as torchvision saves it
    enc = build_encoder(
        ModelConfig(encoder=name, encoder_weights=str(tmp_path / f"{name}.pth"), feature_levels=(0, 1, 2, 3, 4), grid_level=3)
    )
    # timm's feature_info has the same five levels: stem at stride 2, layer1..4 at 4, 8, 16, 32
    assert [i["num_chs"] for i in enc.backbone.feature_info] == channels
    assert [i["reduction"] for i in enc.backbone.feature_info] == [2, 4, 8, 16, 32]
    assert enc.feature_dim == sum(channels)
    assert torch.equal(enc.backbone.layer4[-1].conv1.weight, net.layer4[-1].conv1.weight)
    x = torch.randn(2, 3, 96, 96)
    with torch.inference_mode():
        ours = enc.backbone.forward_intermediates(x, indices=[0, 1, 2, 3, 4], intermediates_only=True)
        # the encoder runs channels_last; so does the reference, or summation order alone differs
        theirs = torchvision_levels(net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last))
        grid = enc(x)
    for level, (a, b) in enumerate(zip(ours, theirs)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4, msg=f"level {level}")
    assert enc.grid_size(96) == (6, 6) and grid.shape == (2, 36, sum(channels))
    stem_pooled = torch.nn.functional.adaptive_avg_pool2d(theirs[0], (6, 6))
    torch.testing.assert_close(grid.transpose(1, 2).reshape(2, -1, 6, 6)[:, : channels[0]], stem_pooled, rtol=1e-4, atol=1e-4)
    assert preprocessor_for(ModelConfig(encoder=name)).mean == (0.485, 0.456, 0.406)
    assert preprocessor_for(ModelConfig(encoder=name)).std == (0.229, 0.224, 0.225)


def test_resnet_levels_are_pruned_and_fine_tuning_counts_its_blocks(tmp_path):
    net = random_torchvision_resnet("resnet18")
    torch.save(net.state_dict(), tmp_path / "resnet18.pth")
    enc = build_encoder(
        ModelConfig(
            encoder="resnet18", encoder_weights=str(tmp_path / "resnet18.pth"), feature_levels=(2, 3), grid_level=3, finetune_blocks=1
        )
    )
    assert enc.grid_size(224) == (14, 14) and enc.feature_dim == 128 + 256
    assert not any(k.startswith(("layer4.", "fc.")) for k in enc.backbone.state_dict())  # never computed
    assert {n.rsplit(".", 2)[0] for n, p in enc.named_parameters() if p.requires_grad} == {"backbone.layer3.1"}
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():  # the stem, layer1, layer2 (a level) and layer3's first block are the frozen part
        frozen = enc.frozen_part(x)
        assert [tuple(t.shape[1:]) for t in frozen] == [(256, 6, 6), (128, 12, 12)]
        torch.testing.assert_close(enc.from_frozen_part(frozen), enc(x), rtol=1e-5, atol=1e-5)


def test_old_resnet_key_table():
    from captioner.model.encoder import renamed_resnet_key

    assert renamed_resnet_key("stem.0.weight") == "conv1.weight"
    assert renamed_resnet_key("stem.1.running_var") == "bn1.running_var"
    assert renamed_resnet_key("layers.0.1.conv2.weight") == "layer1.1.conv2.weight"
    assert renamed_resnet_key("layers.3.0.downsample.1.bias") == "layer4.0.downsample.1.bias"
    for new in ("conv1.weight", "layer1.0.conv1.weight", "layer4.1.bn2.num_batches_tracked"):
        assert renamed_resnet_key(new) == new


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


def test_a_saved_model_with_the_old_resnet_key_names_still_loads(tmp_path, vocab):
    """Models saved before the ResNets came from timm stored a fine-tuned ResNet encoder under the
    hand-written trunk's names (stem.0./stem.1./layers.N.), every layer included."""
    from safetensors.torch import load_file, save_file

    from captioner import Captioner
    from captioner.modeldir.checkpoint import load_model

    net = random_torchvision_resnet("resnet18")
    torch.save(net.state_dict(), tmp_path / "resnet18.pth")
    torch.manual_seed(0)
    config = ModelConfig(
        encoder="resnet18",
        encoder_weights=str(tmp_path / "resnet18.pth"),
        feature_levels=(3,),
        finetune_blocks=1,
        embed_dim=16,
        hidden_dim=16,
        attention_dim=16,
        max_len=6,
    )
    cap = Captioner.from_config(config, vocab)
    with torch.no_grad():
        cap.model.encoder.backbone.layer3[1].conv2.weight.mul_(1.5)  # as if fine-tuned
    directory = cap.save_pretrained(tmp_path / "m")
    (tmp_path / "resnet18.pth").unlink()  # the saved model brings its own encoder

    def old_name(key: str) -> str:  # written out by hand, independently of the encoder's table
        for new, old in (
            ("conv1.", "stem.0."),
            ("bn1.", "stem.1."),
            ("layer1.", "layers.0."),
            ("layer2.", "layers.1."),
            ("layer3.", "layers.2."),
            ("layer4.", "layers.3."),
        ):
            if key.startswith(new):
                return old + key[len(new) :]
        raise AssertionError(key)

    saved = load_file(str(directory / "model.safetensors"))
    prefix = "encoder.backbone."
    old = {(prefix + old_name(k[len(prefix) :]) if k.startswith(prefix) else k): v for k, v in saved.items()}
    # the old trunk also stored layer4, which feature_levels (3,) never computed
    old.update({prefix + old_name(k): v for k, v in net.state_dict().items() if k.startswith("layer4.")})
    assert any(k.startswith(prefix + "layers.3.") for k in old) and not any(
        k.startswith((prefix + "conv1.", prefix + "layer3.")) for k in old
    )
    save_file(old, str(directory / "model.safetensors"), metadata={"format": "captioner", "encoder_included": "true"})
    # a model saved by an older captioner: its config.json holds no fingerprints of its files
    config = json.loads((directory / "config.json").read_text())
    config.pop("sha256", None)
    (directory / "config.json").write_text(json.dumps(config))

    model, _ = load_model(directory)
    loaded = model.encoder.backbone
    assert torch.equal(loaded.layer3[1].conv2.weight, cap.model.encoder.backbone.layer3[1].conv2.weight)
    assert torch.equal(loaded.bn1.running_var, net.bn1.running_var) and torch.equal(loaded.conv1.weight, net.conv1.weight)
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        torch.testing.assert_close(model.encoder(x), cap.model.encoder(x))
