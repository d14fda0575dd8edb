"""D_φ: tells a pooled representation of an original from that of a masked copy."""

from __future__ import annotations

import torch
from torch import nn


class Discriminator(nn.Module):
    def __init__(self, hidden_size: int, d_hidden: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(hidden_size),
            nn.Linear(hidden_size, d_hidden),
            nn.GELU(),
            nn.Linear(d_hidden, 1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """features [N, D] -> logits [N]; high = 'original'."""
        return self.net(features.float()).squeeze(-1)
