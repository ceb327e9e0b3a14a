"""The encoder at inference on torch: a snapshot of it with each batch norm folded into the
convolution before it, run a few images at a time on the CPU.

In eval mode a batch norm is an affine map per channel, so it folds into the convolution that
feeds it: w' = w * g / sqrt(var + eps), b' = (b - mean) * g / sqrt(var + eps) + beta, one
operation where there were two. On the CPU the batch runs CPU_CHUNK images at a time, whose
activations stay in the processor's caches (a batch of 32 runs slower per image than 4 at a
time: benchmarks/bench_encoder.py). The snapshot is a folded copy of the backbone as it was when
made; the model's own weights (the file format) are untouched. Make another after the weights
change (InferenceRuntime.refresh).
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn

# Images per encoder pass at inference on the CPU (benchmarks/bench_encoder.py measures the choice).
CPU_CHUNK = 4


class FoldedEncoder:
    """Normalised pixels (B, 3, S, S) -> annotations (B, L, D), without autograd, as `encoder`."""

    def __init__(self, encoder: nn.Module, image_size: int, fold: bool = True):
        """`fold`: fold batch norms (False: the backbone as it is, for measuring the fold). A backbone
        whose folded copy does not give the same maps on a probe image (one that reuses a
        convolution's output elsewhere) runs unfolded."""
        self.encoder = encoder
        self.backbone = encoder.backbone
        if fold:
            with torch.inference_mode(False), torch.no_grad():
                folded = fold_batch_norms(copy.deepcopy(encoder.backbone))
                probe = torch.randn(1, 3, image_size, image_size, generator=torch.Generator().manual_seed(0))
                probe = probe.to(next(encoder.backbone.parameters()).device).contiguous(memory_format=torch.channels_last)
                same = all(
                    torch.allclose(a, b, rtol=1e-3, atol=1e-4)
                    for a, b in zip(encoder.feature_maps(probe), encoder.feature_maps(probe, folded))
                )
            self.backbone = folded if same else encoder.backbone

    @torch.no_grad()
    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        x = pixels.contiguous(memory_format=torch.channels_last)
        parts = x.split(CPU_CHUNK) if x.device.type == "cpu" else [x]
        return torch.cat([self.encoder.to_annotations(self.encoder.feature_maps(part, self.backbone)) for part in parts])


def fold_batch_norms(backbone: nn.Module) -> nn.Module:
    """Fold, in place, every batch norm (eval mode) registered right after the convolution that
    feeds it: w' = w * g / sqrt(var + eps), b' = (b - mean) * g / sqrt(var + eps) + beta. timm's
    BatchNormAct2d keeps its activation."""
    for module in list(backbone.modules()):
        children = list(module.named_children())
        for (_, conv), (name, bn) in zip(children, children[1:]):
            foldable = type(bn) is nn.BatchNorm2d or (isinstance(bn, nn.BatchNorm2d) and hasattr(bn, "act") and hasattr(bn, "drop"))
            if not (isinstance(conv, nn.Conv2d) and foldable and bn.running_var is not None and bn.num_features == conv.out_channels):
                continue
            scale = bn.running_var.add(bn.eps).rsqrt()
            if bn.weight is not None:
                scale = scale * bn.weight
            shift = -bn.running_mean * scale + (bn.bias if bn.bias is not None else 0)
            conv.weight.mul_(scale.view(-1, 1, 1, 1))
            bias = shift if conv.bias is None else conv.bias * scale + shift
            conv.bias = nn.Parameter(bias, requires_grad=False)
            setattr(module, name, nn.Sequential(bn.drop, bn.act) if hasattr(bn, "act") else nn.Identity())
    return backbone
