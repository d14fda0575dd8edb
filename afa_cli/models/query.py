"""The query position: the token whose attention row is the policy, the first ([CLS]) for an
encoder, the last real token for a decoder."""

from __future__ import annotations

import torch

QUERY_FIRST, QUERY_LAST = "first", "last"


def query_position_kind(model) -> str:
    return getattr(model.config, "afa_query_position", QUERY_FIRST)


def query_positions(attention_mask: torch.Tensor, kind: str) -> torch.Tensor:
    """[B] index of the token whose attention row is the policy: the first, or the last attended
    one (which afa.mask_with=drop can leave before holes in the mask, not only padding)."""
    if kind == QUERY_LAST:
        positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
        return (positions * attention_mask).argmax(dim=1)
    return torch.zeros(attention_mask.shape[0], dtype=torch.long, device=attention_mask.device)
