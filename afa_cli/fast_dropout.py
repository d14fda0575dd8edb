"""Dropout whose keep mask comes from uniform draws, on the CPU.

torch's CPU dropout draws its mask with bernoulli_, about 2.3× slower than drawing uniforms and
comparing them with p (6.1 against 2.7 ms for a [32, 40, 384] activation on 2 cores): a tenth of
a MiniLM training step. The mask has the same law (each unit kept with probability 1 − p, kept
units scaled by 1 / (1 − p)); only the random stream differs. On CUDA torch's fused kernel is
already the fast one and is used."""

from __future__ import annotations

import torch
from torch import nn


def uniform_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or p >= 1.0:
        return nn.functional.dropout(x, p, training)
    keep = torch.rand(x.shape, dtype=torch.float32) >= p
    return x * (keep.to(x.dtype) * (1.0 / (1.0 - p)))


class UniformDropout(nn.Dropout):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return uniform_dropout(x, self.p, self.training)


def use_uniform_dropout(model: nn.Module) -> None:
    """Swap every nn.Dropout of a loaded model for UniformDropout (same p, same switch)."""
    for module in model.modules():
        if type(module) is nn.Dropout:
            module.__class__ = UniformDropout
