"""Attention rollout (Abnar & Zuidema, 2020): how much each token flows into the query position
through all layers up to one, residual connections included."""

from __future__ import annotations

from contextlib import ExitStack

import torch

from afa_cli.afa.method import Forward
from afa_cli.attention_kernels import ALL_ROWS, AttentionRecorder
from afa_cli.models import AttendingClassifier, query_positions


def attention_rollout(attentions: list[torch.Tensor]) -> torch.Tensor:
    """[N, T, T] rollout through the given layers (first to last), each [N, H, T, T].

    Heads are averaged and the identity added for the residual stream, rows renormalised, and
    the layers multiplied: R_l = Â_l R_{l-1}."""
    rollout = None
    for weights in attentions:
        mixed = weights.float().mean(dim=1)
        mixed = mixed + torch.eye(mixed.shape[-1], dtype=mixed.dtype, device=mixed.device)
        mixed = mixed / mixed.sum(dim=-1, keepdim=True)
        rollout = mixed if rollout is None else mixed @ rollout
    return rollout


class RolloutClassifier:
    """Called like `AttendingClassifier` (whose forward pass it runs); its token attention is the
    query row of the rollout through layers 0..layer instead of that layer's attention alone."""

    def __init__(self, model, layer: int, precision: str = "fp32"):
        self.model = model
        self.net = AttendingClassifier(model, layer=layer, precision=precision)
        self.recorders = [AttentionRecorder(model, each) for each in range(layer + 1)]

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 train_mode: bool) -> Forward:
        with ExitStack() as stack:
            for recorder in self.recorders:
                stack.enter_context(recorder.reading(ALL_ROWS))
            out = self.net(input_ids, attention_mask, train_mode, read_attention=False)
        rollout = attention_rollout([recorder.weights for recorder in self.recorders])  # [N, T, T]
        positions = query_positions(attention_mask, self.net.query_kind)
        batch = torch.arange(input_ids.shape[0], device=input_ids.device)
        return Forward(out.logits, out.pooled, rollout[batch, positions].float())
