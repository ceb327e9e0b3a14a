"""A weight applied at every step of the decoder's recurrence, its gradient computed once.

Training runs the LSTM one step at a time, so autograd computes the gradient of each per-step
weight (lstm_context: D x 4H, the largest; lstm_hidden: H x 4H) once per step: one small matrix
product per step, each adding into the whole weight-sized gradient. The gradient is the sum over
steps of grad_t^T x_t, so it can wait: each step's backward keeps (grad_t, x_t) and returns only
the gradient of its input, and once every step's backward has run, one large product gives the
weight's gradient. The same gradients (float64 tests compare them with a product a step); a
decoder training step at the paper's sizes measured 1.08-1.11x faster (`python -m benchmarks.bench_train`,
before and after in one process).
"""

from __future__ import annotations

import torch


class StepProducts:
    """x -> x @ weight.T for the steps of one forward pass, the weight's gradient deferred to one
    product. Make one per forward pass; one backward pass (no double backward)."""

    def __init__(self, weight: torch.Tensor):
        # Each step's (grad_t, x_t), filled by the steps' backward and emptied by _Collect's. The
        # autograd nodes hold this list, not this object, so no reference cycle runs through the graph.
        self.pairs: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.weight = _Collect.apply(weight, self.pairs)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return _StepProduct.apply(x, self.weight, self.pairs)


class _StepProduct(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, pairs):
        ctx.save_for_backward(x, weight)
        ctx.pairs = pairs
        return x @ weight.t()

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        ctx.pairs.append((grad, x))
        return grad @ weight, None, None  # the weight's share waits for _Collect


class _Collect(torch.autograd.Function):
    """Stands between the weight and its per-step uses, so that its backward runs after all of theirs."""

    @staticmethod
    def forward(ctx, weight, pairs):
        ctx.pairs = pairs
        return weight.detach()

    @staticmethod
    def backward(ctx, _):
        pairs = ctx.pairs
        if not pairs:
            return None, None
        grads, inputs = zip(*pairs)
        pairs.clear()
        return torch.cat(grads).t() @ torch.cat(inputs), None
