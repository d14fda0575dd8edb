"""AttendingClassifier: a loaded sequence classifier whose every forward pass also gives its pooled
state and one layer's attention row at the query position, what AFA and inspection read."""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from afa_cli.afa.method import Forward
from afa_cli.attention_kernels import AttentionRecorder
from afa_cli.models.hf_patches import first_row_only, last_attention_block
from afa_cli.models.query import QUERY_FIRST, QUERY_LAST, query_position_kind, query_positions


def num_layers(model) -> int:
    return model.config.num_hidden_layers


class AttendingClassifier:
    """A sequence classifier that also reports, per forward pass, its pooled state and one
    layer's attention row at the query position: everything AFA and inspection read."""

    def __init__(self, model, layer: int = -1, head: int | None = None, precision: str = "fp32",
                 runner: torch.nn.Module | None = None, pad_to_multiple_of: int = 1):
        self.model = model
        self.recorder = AttentionRecorder(model, layer)
        self.head = head
        self.query_kind = query_position_kind(model)
        self.bf16 = precision == "bf16"
        self.device = next(model.parameters()).device
        # What the forward passes go through: the model, or its DistributedDataParallel wrapper.
        self.runner = runner if runner is not None else model
        # A compiled runner recompiles for every new length; padded lengths take a few values.
        self.pad_to_multiple_of = pad_to_multiple_of
        # An encoder's head reads its last layer at the first token alone, so that layer's
        # feed-forward block runs on that row only: the other rows' outputs are read by nothing
        # (a decoder's head finds its row itself, from the whole sequence).
        self.query_row_tail = last_attention_block(model) if self.query_kind == QUERY_FIRST else None

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 train_mode: bool, read_attention: bool = True) -> Forward:
        """read_attention=False: a pass whose attention nobody reads (AFA's masked copies)
        computes no weights in any layer; its token_attention is None."""
        self.model.train(train_mode)
        length = input_ids.shape[1]
        extra = -length % self.pad_to_multiple_of
        if extra:
            input_ids = F.pad(input_ids, (0, extra), value=self.model.config.pad_token_id)
            attention_mask = F.pad(attention_mask, (0, extra), value=0)
        input_ids = input_ids.to(self.device, non_blocking=True)
        attention_mask = attention_mask.to(self.device, non_blocking=True)
        if self.query_kind == QUERY_LAST:
            # A decoder's head pools the rightmost token that is not the pad token: padding the
            # positions outside the attention mask makes that the query position, also when
            # afa.mask_with=drop hid the last word.
            input_ids = input_ids.masked_fill(attention_mask == 0, self.model.config.pad_token_id)
        positions = query_positions(attention_mask, self.query_kind)          # [N]
        reading = self.recorder.reading(positions) if read_attention else contextlib.nullcontext()
        tail = (first_row_only(self.query_row_tail) if self.query_row_tail is not None
                else contextlib.nullcontext())
        with reading, tail, torch.autocast(self.device.type, dtype=torch.bfloat16,
                                           enabled=self.bf16):
            out = self.runner(input_ids=input_ids, attention_mask=attention_mask,
                              output_hidden_states=True)
        token_attention = None
        if read_attention:
            rows = self.recorder.weights                                       # [N, H, T]
            token_attention = (rows.mean(dim=1) if self.head is None else rows[:, self.head])
            token_attention = token_attention[:, :length].float()                # [N, T]
        batch = torch.arange(input_ids.shape[0], device=input_ids.device)
        pooled = out.hidden_states[-1][batch, positions]                       # [N, D]
        return Forward(out.logits.float(), pooled, token_attention)
