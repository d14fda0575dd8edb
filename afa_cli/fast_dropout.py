"""Dropout on the CPU with a faster random-number generator.

torch's CPU dropout draws its mask from a Mersenne twister element by element: 5.6 ms for a
[32, 40, 384] activation on 2 cores, a tenth of a MiniLM training step. This one draws the
uniforms with numpy's SFC64 generator and turns them into the scaled mask in one pass: 2.4 ms.
The mask has the same law (each unit kept with probability 1 − p, kept units scaled by
1 / (1 − p)). Each call seeds SFC64 from torch's own generator, so runs stay reproducible from
`seed`, resume exactly (checkpoints hold torch's random state) and `torch.random.fork_rng`
scopes these draws as it does torch's dropout. On CUDA torch's fused kernel is already the fast
one and is used."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

SEED_RANGE = 2**62


def uniform_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or p >= 1.0:
        return nn.functional.dropout(x, p, training)
    seed = int(torch.randint(SEED_RANGE, (1,)))
    uniform = np.random.Generator(np.random.SFC64(seed)).random(x.numel(), dtype=np.float32)
    scale = torch.where(torch.from_numpy(uniform).view(x.shape) >= p, 1.0 / (1.0 - p), 0.0)
    return x * scale.to(x.dtype)


class UniformDropout(nn.Dropout):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return uniform_dropout(x, self.p, self.training)


def use_uniform_dropout(model: nn.Module) -> None:
    """Turn every nn.Dropout of a loaded model into a UniformDropout (same p, same switch)."""
    for module in model.modules():
        if type(module) is nn.Dropout:
            module.__class__ = UniformDropout
