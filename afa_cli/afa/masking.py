"""The masker: a mask policy q_θ derived from a_θ, sampling k words, and applying the masks."""

from __future__ import annotations

import torch

from afa_cli.afa.attention import word_mask
from afa_cli.afa.config import MaskWith, Policy


def num_to_mask(num_words: torch.Tensor, ratio: float) -> torch.Tensor:
    """[B] k = max(1, ⌊ρ·n + ½⌋), never more than n."""
    k = torch.floor(num_words.to(torch.float64) * ratio + 0.5).long().clamp(min=1)
    return torch.minimum(k, num_words.clamp(min=1))


def mask_policy(attention: torch.Tensor, num_words: torch.Tensor, policy: Policy) -> torch.Tensor:
    """[B, W] q_θ over the words (zero on padding words).

    complement: q_i = (1 − a_i)/(n − 1) — mask what the model ignores; a one-word text has q = 1
    attention:  q_i = a_i
    uniform:    q_i = 1/n, independent of θ
    """
    valid = word_mask(num_words, attention.shape[1])
    n = num_words.to(attention.dtype)[:, None]
    match policy:
        case Policy.complement:
            q = torch.where(n > 1, (1.0 - attention) / (n - 1).clamp_min(1.0),
                            torch.ones_like(attention))
        case Policy.attention:
            q = attention
        case Policy.uniform:
            q = torch.ones_like(attention) / n.clamp_min(1.0)
        case _:
            raise ValueError(f"unknown mask policy {policy!r}; expected one of {', '.join(Policy)}")
    return q * valid


def sample_masks(q: torch.Tensor, k: torch.Tensor, num_masks: int,
                 generator: torch.Generator) -> torch.Tensor:
    """[B, M, W] bool: M independent draws of k words without replacement from q.

    Gumbel-top-k is exact sequential sampling without replacement; the generator is the
    masker's own, so sampling never moves the global random stream."""
    batch, width = q.shape
    valid = q > 0
    keys = torch.where(valid, q.clamp_min(1e-12).log(), torch.full_like(q, float("-inf")))
    uniform = torch.rand((batch, num_masks, width), generator=generator, dtype=q.dtype, device="cpu")
    gumbel = -(-uniform.clamp_min(1e-20).log()).log()
    if q.device.type == "cuda":  # pinned: a copy the host queues rather than waits for
        gumbel = gumbel.pin_memory()
    keys = keys[:, None, :] + gumbel.to(q.device, non_blocking=True)
    rank = keys.argsort(dim=2, descending=True).argsort(dim=2)
    return (rank < k[:, None, None]) & valid[:, None, :]


def log_prob(q: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """[B, M] log q(m) = Σ_{i∈m} log q_i.

    The with-replacement approximation: the exact without-replacement probability renormalises
    after each pick, which couples the words; the sum keeps one independent term per word."""
    return (masks.to(q.dtype) * q.clamp_min(1e-12).log()[:, None, :]).sum(dim=2)


def apply_masks(input_ids: torch.Tensor, attention_mask: torch.Tensor, word_ids: torch.Tensor,
                masks: torch.Tensor, mode: MaskWith, replacement_id: int | None):
    """Masked copies x̃: every piece of a chosen word replaced (mask/unk) or hidden (drop).

    input_ids, attention_mask, word_ids: [B, T]; masks: [B, M, W]
    returns input_ids, attention_mask: [B·M, T], row b·M + j is mask j of sentence b
    """
    num_masks = masks.shape[1]
    ids = input_ids.repeat_interleave(num_masks, dim=0)
    att = attention_mask.repeat_interleave(num_masks, dim=0)
    words = word_ids.repeat_interleave(num_masks, dim=0)
    flat = masks.reshape(-1, masks.shape[2])
    piece_masked = flat.gather(1, words.clamp(min=0)) & (words >= 0)
    match mode:
        case MaskWith.drop:
            return ids, att.masked_fill(piece_masked, 0)
        case MaskWith.mask | MaskWith.unk:
            if replacement_id is None:
                raise ValueError(f"mask_with={mode!r} needs a replacement token the tokenizer "
                                 "does not have")
            return ids.masked_fill(piece_masked, replacement_id), att
        case _:
            raise ValueError(f"unknown mask_with {mode!r}; expected one of {', '.join(MaskWith)}")
