"""The attention policy a_θ(x): a distribution over the words of x, read from one attention row."""

from __future__ import annotations

import torch


def word_attention(token_attention: torch.Tensor, word_ids: torch.Tensor,
                   num_word_slots: int | None = None) -> torch.Tensor:
    """Sum sub-word pieces per word and renormalise.

    token_attention: [B, T] attention of the query token (heads already reduced)
    word_ids:        [B, T] word index of each token, -1 on special tokens and padding
    num_word_slots:  W when the caller knows it (reading it from a GPU tensor waits for the GPU)
    returns          [B, W] a_θ, W = most words in the batch; zero beyond each sentence's words
    """
    if num_word_slots is None:
        num_word_slots = int(word_ids.max().item()) + 1
    on_word = (word_ids >= 0).to(token_attention.dtype)
    per_word = torch.zeros(word_ids.shape[0], max(num_word_slots, 1),
                           dtype=token_attention.dtype, device=token_attention.device)
    per_word = per_word.scatter_add(1, word_ids.clamp(min=0), token_attention * on_word)
    return per_word / per_word.sum(dim=1, keepdim=True).clamp_min(1e-12)


def word_mask(num_words: torch.Tensor, width: int) -> torch.Tensor:
    """[B, W] True on the real words of each sentence."""
    return torch.arange(width, device=num_words.device)[None, :] < num_words[:, None]


def entropy(dist: torch.Tensor) -> torch.Tensor:
    """[B] Shannon entropy (nats) of each row; zero entries contribute nothing."""
    return -(dist * dist.clamp_min(1e-12).log()).sum(dim=1)


def normalized_entropy(dist: torch.Tensor, num_words: torch.Tensor) -> torch.Tensor:
    """[B] entropy / log(n): 1 = uniform over the words, 0 = all on one word; NaN when n = 1."""
    log_n = num_words.to(dist.dtype).log()
    return torch.where(num_words > 1, entropy(dist) / log_n.clamp_min(1e-12),
                       torch.full_like(log_n, float("nan")))
