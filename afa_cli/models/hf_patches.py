"""Every change afa makes to transformers' own modules, each checked before it is made.

- MPNet's self-attention computes its scores inline, outside transformers' attention interface:
  route_mpnet_attention replaces the forward of each MPNetSelfAttention by one on afa's kernel.
- An encoder's head reads its last layer at the first token alone: inside first_row_only, a
  forward hook on the last attention block (BertAttention, MPNetAttention) trims its output to
  that row, so the last feed-forward block runs on it only.

Each patch names the transformers releases it was written against (tested on 5.24). Before
changing anything it checks that what it changes looks as it expects (the class's name, its
attributes, how it is called, what it returns): when it does not, one line (a UserError) says what
differs, with the installed release and the releases the patch fits; when the check passes on a
release outside them, a warning says so.

Not here, as they change nothing of transformers: afa's kernel joins transformers through its
public AttentionInterface (attention_kernels.py), and every torch nn.Dropout of a model becomes
afa's faster dropout (fast_dropout.py)."""

from __future__ import annotations

import contextlib
import inspect
import math
import warnings
from dataclasses import dataclass

import torch
import transformers
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from afa_cli.attention_kernels import afa_attention_forward, attention_modules
from afa_cli.errors import UserError


@dataclass(frozen=True)
class Patch:
    """One change to transformers' modules, and the releases it was written against."""

    name: str
    written_for: str  # a version specifier

    def check(self, difference: str | None) -> None:
        """Before the change is made: the mismatch when what it changes is not what it expects
        (`difference` says how, None when it is), a warning when it is, on a release it was not
        written for."""
        if difference is not None:
            raise self.mismatch(difference)
        if not self._fits_installed():
            warnings.warn(f"afa's {self.name} was written for transformers{self.written_for}, "
                          f"not {transformers.__version__}; what it changes still looks as it "
                          "expects.", stacklevel=2)

    def mismatch(self, difference: str) -> UserError:
        """The one line for a module that is not what the patch expects."""
        fix = "" if self._fits_installed() else f"; pip install 'transformers{self.written_for}'"
        return UserError(f"afa's {self.name} does not fit transformers {transformers.__version__}: "
                         f"{difference} (it was written for transformers{self.written_for}{fix}).")

    def _fits_installed(self) -> bool:
        return SpecifierSet(self.written_for).contains(Version(transformers.__version__),
                                                       prereleases=True)


# 5.0 took head_mask out of MPNetSelfAttention.forward, whose arguments the patch takes in order.
MPNET_ATTENTION = Patch("MPNet attention patch", ">=5.0,<6")
MPNET_SELF_ATTENTION = "MPNetSelfAttention"
MPNET_ARGUMENTS = ("hidden_states", "attention_mask", "position_bias", "output_attentions")
MPNET_ATTRIBUTES = ("q", "k", "v", "o", "dropout", "attention_head_size", "all_head_size")

FIRST_ROW_ONLY = Patch("last-layer first-row hook", ">=5.0,<6")


def route_mpnet_attention(model) -> int:
    """Route each MPNetSelfAttention of `model` through afa's kernel; how many there were."""
    modules = [m for m in model.modules() if type(m).__name__ == MPNET_SELF_ATTENTION]
    if modules or getattr(model.config, "model_type", None) == "mpnet":
        MPNET_ATTENTION.check(_mpnet_difference(modules))
    for module in modules:
        module.forward = _mpnet_self_attention_forward.__get__(module)
    return len(modules)


def _mpnet_difference(modules: list[torch.nn.Module]) -> str | None:
    """How an MPNet model's self-attention modules differ from those the patch was written for;
    None when they do not."""
    if not modules:
        return f"the MPNet model has no {MPNET_SELF_ATTENTION}"
    for module in modules:
        if missing := [name for name in MPNET_ATTRIBUTES if not hasattr(module, name)]:
            return f"{MPNET_SELF_ATTENTION} has no {', '.join(missing)}"
        arguments = tuple(inspect.signature(module.forward).parameters)[:len(MPNET_ARGUMENTS)]
        if arguments != MPNET_ARGUMENTS:
            return f"{MPNET_SELF_ATTENTION}.forward's arguments begin {', '.join(arguments)}"
    return None


def _mpnet_self_attention_forward(self, hidden_states, attention_mask=None, position_bias=None,
                                  output_attentions=False, **kwargs):
    """MPNetSelfAttention.forward on the afa kernel: its relative position bias joins the padding
    mask as the additive mask."""
    hidden_shape = (*hidden_states.shape[:-1], -1, self.attention_head_size)
    q = self.q(hidden_states).view(hidden_shape).transpose(1, 2)        # [B, H, T, d]
    k = self.k(hidden_states).view(hidden_shape).transpose(1, 2)
    v = self.v(hidden_states).view(hidden_shape).transpose(1, 2)
    bias = position_bias
    if attention_mask is not None:
        bias = attention_mask if bias is None else bias + attention_mask  # [B, H, T, T] additive
    context, weights = afa_attention_forward(
        self, q, k, v, None if bias is None else bias.to(q.dtype),
        dropout=self.dropout.p if self.training else 0.0,
        scaling=1 / math.sqrt(self.attention_head_size))
    output = self.o(context.reshape(*hidden_states.shape[:-1], self.all_head_size))
    if weights is None:
        return (output, None) if output_attentions else (output,)
    return output, weights


def last_attention_block(model) -> torch.nn.Module:
    """The module whose output the last layer's feed-forward block reads (BertAttention,
    MPNetAttention): the parent of the last self-attention module; first_row_only hooks it."""
    last = attention_modules(model)[-1]
    block = next(m for m in model.modules() if any(child is last for child in m.children()))
    name = type(block).__name__
    FIRST_ROW_ONLY.check(None if name.endswith("Attention") else
                         f"the last self-attention sits in a {name}, not an attention block")
    return block


@contextlib.contextmanager
def first_row_only(block: torch.nn.Module):
    """Inside: the layer of `block` (last_attention_block) continues on the first token's row
    alone, for a head that reads nothing else."""
    handle = block.register_forward_hook(_keep_first_row)
    try:
        yield
    finally:
        handle.remove()


def _keep_first_row(module, args, output):
    """(hidden [B, T, D], ...) -> (hidden [B, 1, D], ...)."""
    if not (isinstance(output, tuple) and output[0].dim() == 3):
        raise FIRST_ROW_ONLY.mismatch(f"{type(module).__name__} returns no (hidden states "
                                      "[B, T, D], ...)")
    return (output[0][:, :1], *output[1:])
