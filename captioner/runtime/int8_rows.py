"""An int8 product whose result for a row depends on that row alone.

torch's dynamic int8 Linear quantises its input with one scale for the whole tensor, taken from the
tensor's range: in a batch, an image's captions then depended on the other images (6 of 32 differed
between batch 1 and batch 32 with the shipped model). Here every row is divided by its own largest
magnitude, and two constant rows (all -1, all +1) go with the batch, so the tensor's range, and with
it the quantisation grid, is always [-1, 1]: each row is quantised on its own scale (zero stays
exact), and the product is multiplied back by it. Measured on 32 photos (scripts/measure_int8_batch.py):
0 captions differ between batch 1 and 32, and 3 differ from the float model's where 5 did.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn as nn


class RowwiseInt8Linear(nn.Module):
    """x -> x @ weight.T + bias with int8 weights (per output channel) and each input row quantised
    on its own scale."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor):
        super().__init__()
        linear = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
        with torch.no_grad():
            linear.weight.copy_(weight)
        linear.qconfig = torch.ao.quantization.per_channel_dynamic_qconfig  # per output row: closer to float
        with warnings.catch_warnings():
            # torch deprecates its quantised tensor types in favour of torchao; they still work here.
            warnings.filterwarnings("ignore", message=".*quantize_per_.*")
            self.product = torch.ao.nn.quantized.dynamic.Linear.from_float(linear)
        self.register_buffer("bias", bias.detach().clone())
        self.register_buffer("bounds", torch.stack([-torch.ones(weight.shape[1]), torch.ones(weight.shape[1])]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.abs().amax(dim=1, keepdim=True).clamp_min(1e-12)  # a row of zeros: any scale does
        products = self.product(torch.cat([x / scale, self.bounds]))[: x.shape[0]]
        return torch.addcmul(self.bias, scale, products)
