"""Rewards, advantages and the losses of the policy and the discriminator."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def discriminator_reward(masked_logits: torch.Tensor) -> torch.Tensor:
    """r = log σ(D(h(x̃))): high when the masked copy passes as an original."""
    return F.logsigmoid(masked_logits)


def divergence_reward(original_logits: torch.Tensor, masked_logits: torch.Tensor,
                      num_masks: int) -> torch.Tensor:
    """r = −KL(p(x) ‖ p(x̃)) per masked copy; original_logits [B, C], masked_logits [B·M, C]."""
    log_p = F.log_softmax(original_logits.float(), dim=-1).repeat_interleave(num_masks, dim=0)
    log_p_masked = F.log_softmax(masked_logits.float(), dim=-1)
    return -(log_p.exp() * (log_p - log_p_masked)).sum(dim=-1)


def random_reward(size: int, generator: torch.Generator) -> torch.Tensor:
    """The control: r ~ N(0, 1), unrelated to anything the masker did."""
    return torch.randn(size, generator=generator)


def advantages(rewards: torch.Tensor, eps: float, normalize: bool) -> torch.Tensor:
    """rewards [B, M] -> advantages [B, M].

    M = 1: A = (r − mean_batch r) / max(std_batch r, ε) (population std); a batch of one gets 0.
    M > 1: A = r − mean of the sentence's other M − 1 masks (leave-one-out), which credits the
    words a mask chose rather than the sentence; then the same scaling by the batch spread."""
    batch, num_masks = rewards.shape
    if num_masks == 1:
        if batch == 1:
            return torch.zeros_like(rewards)
        centred = rewards - rewards.mean()
    else:
        others_mean = (rewards.sum(dim=1, keepdim=True) - rewards) / (num_masks - 1)
        centred = rewards - others_mean
    if not normalize:
        return centred
    return centred / centred.std(correction=0).clamp_min(eps)


def policy_loss(advantage: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """L_pg = −mean(A · log q(m)); advantage [B, M] is a constant, log_q [B, M] carries ∇θ."""
    return -(advantage.detach() * log_q).mean()


def discriminator_loss(original_logits: torch.Tensor, masked_logits: torch.Tensor) -> torch.Tensor:
    """BCE with D(h(x)) → 1 and D(h(x̃)) → 0, each side weighted equally."""
    return 0.5 * (
        F.binary_cross_entropy_with_logits(original_logits, torch.ones_like(original_logits))
        + F.binary_cross_entropy_with_logits(masked_logits, torch.zeros_like(masked_logits))
    )
