"""afa's patches of transformers' modules: each checks that what it changes looks as it expects
and says in one line what differs, naming the releases it was written for; on a release outside
them whose modules still fit, it warns and patches. Tiny random models: nothing is downloaded."""

import pytest
import torch
from transformers import (BertConfig, BertForSequenceClassification, MPNetConfig,
                          MPNetForSequenceClassification)

from afa_cli.errors import UserError
from afa_cli.models import hf_patches
from afa_cli.models.hf_patches import first_row_only, last_attention_block, route_mpnet_attention

TINY = {"vocab_size": 30, "hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2,
        "intermediate_size": 16}
WRITTEN_FOR = "transformers>=5.0,<6"
INSTALL = f"pip install '{WRITTEN_FOR}'"


@pytest.fixture
def mpnet():
    return MPNetForSequenceClassification(MPNetConfig(**TINY))


@pytest.fixture
def bert():
    return BertForSequenceClassification(BertConfig(**TINY))


def self_attentions(mpnet) -> list[torch.nn.Module]:
    return [layer.attention.attn for layer in mpnet.mpnet.encoder.layer]


def installed(monkeypatch, version: str) -> None:
    """The transformers release the patches see as installed."""
    monkeypatch.setattr(hf_patches.transformers, "__version__", version)


def refusal(call, *args) -> str:
    """The one-line message of the UserError call(*args) raises."""
    with pytest.raises(UserError) as err:
        call(*args)
    return one_line(err)


def one_line(err: pytest.ExceptionInfo) -> str:
    assert "\n" not in str(err.value)
    return str(err.value)


def test_the_installed_transformers_is_one_the_patches_were_written_for():
    for patch in (hf_patches.MPNET_ATTENTION, hf_patches.FIRST_ROW_ONLY):
        assert patch.written_for == ">=5.0,<6" and patch._fits_installed(), \
            f"transformers {hf_patches.transformers.__version__}: check {patch.name} on it"


def test_mpnet_attention_is_routed_through_the_kernel(mpnet):
    assert route_mpnet_attention(mpnet) == TINY["num_hidden_layers"]
    assert all(m.forward.__func__ is hf_patches._mpnet_self_attention_forward
               for m in self_attentions(mpnet))


def test_mpnet_without_its_self_attention_class_is_one_line(mpnet, monkeypatch):
    installed(monkeypatch, "6.0.0")
    for module in self_attentions(mpnet):   # a release that renamed the class
        module.__class__ = type("MPNetSdpaSelfAttention", (type(module),), {})
    assert refusal(route_mpnet_attention, mpnet) == (
        "afa's MPNet attention patch does not fit transformers 6.0.0: the MPNet model has no "
        f"MPNetSelfAttention (it was written for {WRITTEN_FOR}; {INSTALL}).")


def test_mpnet_self_attention_called_another_way_is_one_line(mpnet, monkeypatch):
    def forward_before_5(self, hidden_states, attention_mask=None, head_mask=None,
                         position_bias=None, output_attentions=False, **kwargs):
        """MPNetSelfAttention.forward's arguments before transformers 5.0."""

    installed(monkeypatch, "4.56.2")
    for module in self_attentions(mpnet):
        module.__class__ = type("MPNetSelfAttention", (type(module),),
                                {"forward": forward_before_5})
    assert refusal(route_mpnet_attention, mpnet) == (
        "afa's MPNet attention patch does not fit transformers 4.56.2: "
        "MPNetSelfAttention.forward's arguments begin hidden_states, attention_mask, head_mask, "
        f"position_bias (it was written for {WRITTEN_FOR}; {INSTALL}).")


def test_mpnet_self_attention_without_an_attribute_it_reads_is_one_line(mpnet, monkeypatch):
    installed(monkeypatch, "5.24.0")
    del self_attentions(mpnet)[0].q
    with pytest.raises(UserError) as err:
        route_mpnet_attention(mpnet)
    # a release the patch was written for: no other release to install
    assert one_line(err) == ("afa's MPNet attention patch does not fit transformers 5.24.0: "
                             f"MPNetSelfAttention has no q (it was written for {WRITTEN_FOR}).")


def test_mpnet_patch_warns_and_patches_on_another_release_that_fits(mpnet, monkeypatch):
    installed(monkeypatch, "6.0.0")
    with pytest.warns(UserWarning) as warned:
        assert route_mpnet_attention(mpnet) == TINY["num_hidden_layers"]
    assert {str(w.message) for w in warned} == {
        f"afa's MPNet attention patch was written for {WRITTEN_FOR}, not 6.0.0; what it changes "
        "still looks as it expects."}


def test_the_last_layer_runs_on_the_first_row_inside_first_row_only(bert):
    block = last_attention_block(bert)
    assert block is bert.bert.encoder.layer[-1].attention
    rows = []
    bert.bert.encoder.layer[-1].output.register_forward_hook(
        lambda module, args, out: rows.append(out.shape[1]))
    ids = torch.tensor([[2, 5, 6, 7, 3]])
    with torch.no_grad():
        with first_row_only(block):
            bert(input_ids=ids)
        bert(input_ids=ids)
    assert rows == [1, 5]


def test_a_last_self_attention_outside_an_attention_block_is_one_line(bert, monkeypatch):
    installed(monkeypatch, "6.0.0")
    block = bert.bert.encoder.layer[-1].attention
    block.__class__ = type("BertBlock", (type(block),), {})
    assert refusal(last_attention_block, bert) == (
        "afa's last-layer first-row hook does not fit transformers 6.0.0: the last "
        "self-attention sits in a BertBlock, not an attention block (it was written for "
        f"{WRITTEN_FOR}; {INSTALL}).")


def test_an_attention_block_returning_no_tuple_is_one_line(bert, monkeypatch):
    block = last_attention_block(bert)
    installed(monkeypatch, "6.0.0")
    block.forward = lambda hidden_states, *args, **kwargs: hidden_states
    with pytest.raises(UserError) as err, torch.no_grad(), first_row_only(block):
        bert(input_ids=torch.tensor([[2, 5, 3]]))
    assert one_line(err) == (
        "afa's last-layer first-row hook does not fit transformers 6.0.0: BertAttention returns "
        f"no (hidden states [B, T, D], ...) (it was written for {WRITTEN_FOR}; {INSTALL}).")


def test_first_row_hook_warns_and_hooks_on_another_release_that_fits(bert, monkeypatch):
    installed(monkeypatch, "6.0.0")
    with pytest.warns(UserWarning) as warned:
        assert last_attention_block(bert) is bert.bert.encoder.layer[-1].attention
    assert [str(w.message) for w in warned] == [
        f"afa's last-layer first-row hook was written for {WRITTEN_FOR}, not 6.0.0; what it "
        "changes still looks as it expects."]
