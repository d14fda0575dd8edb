"""Attention only where it is read: every layer runs scaled-dot-product attention (SDPA: fused
kernels, flash / memory-efficient ones on CUDA), and the one layer whose weights a caller asks
for (the policy layer, or rollout's layers) also computes those weights, for the query rows alone
when that is all it needs.

Models built on transformers' attention interface get this as attn_implementation="afa"; MPNet,
whose self-attention computes its scores inline, gets the same kernel through a patch of its
self-attention (models/hf_patches.py).
Training on the CPU under attention dropout, where SDPA would run unfused anyway, the kernel
computes the weights itself and drops them out with afa's faster dropout (fast_dropout.py).
The weights asked for are the softmax before attention dropout: the distribution a_θ(x), not one
dropped-out sample of it (identical in eval mode, where dropout is off)."""

from __future__ import annotations

import contextlib
import inspect

import torch
from torch import nn
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

from afa_cli.errors import UserError
from afa_cli.fast_dropout import uniform_dropout

IMPLEMENTATION = "afa"
# On an attention module while its weights are asked for: a [B] tensor of query positions (their
# rows only), or ALL_ROWS (every row, as attention rollout needs).
READING = "afa_reading"
ALL_ROWS = "all"


def attention_weights(query: torch.Tensor, key: torch.Tensor, mask: torch.Tensor | None,
                      scaling: float, reading, causal: bool) -> torch.Tensor:
    """Softmax weights of the rows asked for.

    query [B, H, T, d], key [B, H_kv, T, d]; mask None, bool [B|1, 1|H, T|1, T] (True = attend)
    or additive float of that shape; reading: [B] positions, or ALL_ROWS.
    returns [B, H, T] for positions (each sentence's query row), [B, H, T, T] for ALL_ROWS."""
    key = repeat_kv(key, query.shape[1] // key.shape[1])                 # [B, H, T, d]
    batch, _, length, _ = query.shape
    if isinstance(reading, torch.Tensor):
        rows = torch.arange(batch, device=query.device)
        query = query[rows, :, reading].unsqueeze(2)                    # [B, H, 1, d]
        if mask is not None:
            mask = mask.expand(batch, mask.shape[1], length, length)[rows, :, reading].unsqueeze(2)
        query_index = reading[:, None, None, None]                        # [B, 1, 1, 1]
    else:
        query_index = torch.arange(length, device=query.device)[None, None, :, None]
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling           # [B, H, R, T]
    if mask is not None:
        scores = (scores.masked_fill(~mask, torch.finfo(scores.dtype).min) if mask.dtype == torch.bool
                  else scores + mask)
    elif causal:
        later = torch.arange(length, device=query.device)[None, None, None, :] > query_index
        scores = scores.masked_fill(later, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    return weights.squeeze(2) if isinstance(reading, torch.Tensor) else weights


def afa_attention_forward(module: nn.Module, query: torch.Tensor, key: torch.Tensor,
                          value: torch.Tensor, attention_mask: torch.Tensor | None,
                          dropout: float = 0.0, scaling: float | None = None, **kwargs):
    """transformers' attention-interface signature: (output [B, T, H, d], the weights asked for
    or None)."""
    reading = getattr(module, READING, None)
    scaling = scaling if scaling is not None else query.shape[-1] ** -0.5
    causal = bool(kwargs.get("is_causal", getattr(module, "is_causal", False)))
    if dropout > 0 and query.device.type == "cpu":
        # SDPA's CPU kernels take their math path under dropout, with torch's slower dropout.
        weights = attention_weights(query, key, attention_mask, scaling, ALL_ROWS, causal)
        value = repeat_kv(value, query.shape[1] // value.shape[1])
        output = torch.matmul(uniform_dropout(weights, dropout, True), value).transpose(1, 2)
        if isinstance(reading, torch.Tensor):
            weights = weights[torch.arange(query.shape[0], device=query.device), :, reading]
        return output.contiguous(), None if reading is None else weights
    output, _ = sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                       scaling=scaling, **kwargs)
    if reading is None:
        return output, None
    return output, attention_weights(query, key, attention_mask, scaling, reading, causal)


AttentionInterface.register(IMPLEMENTATION, afa_attention_forward)
AttentionMaskInterface.register(IMPLEMENTATION, sdpa_mask)


# ---------------------------------------------------------------------------------------------
# Asking one layer for its weights.
# ---------------------------------------------------------------------------------------------

def attention_modules(model) -> list[nn.Module]:
    """The self-attention module of each layer, in order; each returns (output, weights, ...).

    Models built on transformers' output recording name their attention class; older ones
    (MPNet) do not, and their attention modules are the innermost ones that take
    `output_attentions`."""
    recorder = getattr(model, "_can_record_outputs", None) or {}
    target = recorder.get("attentions")
    target_class = getattr(target, "target_class", target)
    if isinstance(target_class, type):
        modules = [m for m in model.modules() if isinstance(m, target_class)]
        if modules:
            return modules
    asking = {m for m in model.modules() if _takes_output_attentions(m)}
    innermost = [m for m in model.modules()
                 if m in asking and not any(c in asking for c in m.modules() if c is not m)]
    if innermost and len(innermost) == model.config.num_hidden_layers:
        return innermost
    raise UserError(
        f"Cannot locate the attention layers of {type(model).__name__}; afa needs a model whose "
        "attention modules transformers can record (BERT, MPNet, Llama, ...)."
    )


def _takes_output_attentions(module: nn.Module) -> bool:
    return "output_attentions" in inspect.signature(module.forward).parameters


class AttentionRecorder:
    """One layer's attention weights from the forward passes inside `with recorder.reading(rows):`
    ([B, H, T] query rows for [B] positions, [B, H, T, T] for ALL_ROWS); they stay in the
    autograd graph so the policy gradient reaches θ. Every other pass, and every other layer,
    computes no weights."""

    def __init__(self, model, layer: int):
        modules = attention_modules(model)
        if not -len(modules) <= layer < len(modules):
            raise UserError(f"afa.layer={layer} is out of range: the model has {len(modules)} layers.")
        self.module = modules[layer]
        self.weights: torch.Tensor | None = None

    def _hook(self, module, args, output):
        self.weights = output[1]

    @contextlib.contextmanager
    def reading(self, rows):
        self.weights = None
        setattr(self.module, READING, rows)
        handle = self.module.register_forward_hook(self._hook)
        try:
            yield self
        finally:
            handle.remove()
            delattr(self.module, READING)
