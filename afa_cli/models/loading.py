"""Loading a backbone for afa: a fresh classification head over pretrained weights (with LoRA
adapters when asked), or a checkpoint; either way on afa's attention kernel, with afa's dropout
and a pad token no text is encoded with."""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

from safetensors import SafetensorError
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

from afa_cli.attention_kernels import IMPLEMENTATION
from afa_cli.errors import UserError
from afa_cli.fast_dropout import use_uniform_dropout
from afa_cli.models.hf_patches import route_mpnet_attention
from afa_cli.models.query import QUERY_FIRST, QUERY_LAST
from afa_cli.models.sources import resolve_source

ADAPTER_CONFIG = "adapter_config.json"  # a checkpoint holding a LoRA adapter, not a whole model


def load_pretrained(mcfg, label_names: list[str]):
    """(model, tokenizer) for fine-tuning: a fresh classification head over the backbone, with
    LoRA adapters when model.lora.r is set."""
    location = resolve_source(mcfg.source)
    try:
        config = AutoConfig.from_pretrained(location)
    except OSError as err:
        raise UserError(f"Cannot load model '{mcfg.source}': {str(err).splitlines()[0]}") from None
    config.num_labels = len(label_names)
    config.id2label = dict(enumerate(label_names))
    config.label2id = {name: i for i, name in enumerate(label_names)}
    config.afa_query_position = QUERY_LAST if mcfg.kind == "decoder" else QUERY_FIRST
    config.afa_source = mcfg.source
    if mcfg.num_layers is not None:
        config.num_hidden_layers = min(mcfg.num_layers, config.num_hidden_layers)
    tokenizer = AutoTokenizer.from_pretrained(location)
    model = AutoModelForSequenceClassification.from_pretrained(
        location, config=config, attn_implementation="eager")
    _ensure_padding(model, tokenizer)
    ensure_fast_attention(model)
    use_uniform_dropout(model)
    lora = mcfg.get("lora") or {}
    if lora.get("r"):
        model = _with_lora(model, lora)
    return model, tokenizer


def _peft():
    try:
        import peft
    except ImportError:
        raise UserError("LoRA (model.lora.r) needs peft: pip install 'afa[llm]', "
                        "or set model.lora.r=0 for full fine-tuning.") from None
    return peft


@contextlib.contextmanager
def _quiet_peft():
    """peft still reads a transformers attribute that warns of its renaming on every wrap."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
        yield


def _with_lora(model, lora):
    """Low-rank adapters on lora.target_modules, every other backbone weight frozen. The task
    type makes peft train the new classification head (`score` or `classifier`) in full and
    save it with the adapters (its modules_to_save)."""
    peft = _peft()
    config = peft.LoraConfig(task_type=peft.TaskType.SEQ_CLS, r=lora.r, lora_alpha=lora.alpha,
                             lora_dropout=lora.dropout, target_modules=list(lora.target_modules))
    try:
        with _quiet_peft():
            return peft.get_peft_model(model, config)
    except ValueError as err:
        raise UserError(f"model.lora.target_modules={list(lora.target_modules)} do not fit "
                        f"{type(model).__name__}: {str(err).splitlines()[0]}") from None


def load_checkpoint(path: str | Path, require_trained_head: bool = False):
    """(model, tokenizer) from a checkpoint folder that afa (or anyone) saved: a whole model, or
    a LoRA adapter (adapter_config.json) over the base model it names. `require_trained_head`
    refuses a folder without classification weights (a pretrained backbone): its head would be
    drawn at random."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise UserError(f"{path} is not a checkpoint folder (no config.json).")
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        if (path / ADAPTER_CONFIG).is_file():
            model = _load_adapter(path)
        else:
            model, loading = AutoModelForSequenceClassification.from_pretrained(
                path, attn_implementation="eager", output_loading_info=True)
    except (OSError, ValueError, RuntimeError, SafetensorError) as err:
        raise UserError(f"Cannot load checkpoint {path}: {str(err).splitlines()[0]} (a damaged "
                        "file: copy it again, or use the run's other checkpoint).") from None
    if require_trained_head and not (path / ADAPTER_CONFIG).is_file() and loading["missing_keys"]:
        missing = ", ".join(sorted(loading["missing_keys"]))
        raise UserError(f"{path} holds no trained classification head ({missing} would be "
                        "random): train one with afa train, or pass --allow-untrained-head to "
                        "score it anyway.")
    _ensure_padding(model, tokenizer)
    ensure_fast_attention(model)
    use_uniform_dropout(model)
    return model, tokenizer


def _load_adapter(path: Path):
    """The trainable PeftModel saved in path; its config.json gives the labels and layers."""
    peft = _peft()
    config = AutoConfig.from_pretrained(path)
    base = peft.PeftConfig.from_pretrained(path).base_model_name_or_path
    if not Path(base).is_dir() and getattr(config, "afa_source", None):
        base = resolve_source(config.afa_source)  # the cached base folder was removed: rebuild it
    model = AutoModelForSequenceClassification.from_pretrained(
        base, config=config, attn_implementation="eager")
    with _quiet_peft():
        return peft.PeftModel.from_pretrained(model, path, is_trainable=True)


def _ensure_padding(model, tokenizer) -> None:
    """Right padding with a pad token that no text is encoded with.

    A decoder's classification head pools the rightmost token that is not the pad token, so a
    pad that doubles as a real token (the unk of afa.mask_with=unk, or a bos/eos the tokenizer
    wraps texts in) would move the pooled position inside the text."""
    in_texts = set(tokenizer("a")["input_ids"]) | {tokenizer.unk_token_id}
    if tokenizer.pad_token_id is None or tokenizer.pad_token_id in in_texts:
        spare = [i for i in (tokenizer.eos_token_id, *tokenizer.all_special_ids)
                 if i is not None and i not in in_texts]
        if not spare:
            raise UserError(f"{tokenizer.name_or_path}: no special token is free to pad with.")
        tokenizer.pad_token = tokenizer.convert_ids_to_tokens(spare[0])
    tokenizer.padding_side = "right"
    model.config.pad_token_id = tokenizer.pad_token_id


def ensure_fast_attention(model) -> None:
    """Give a loaded model the afa kernel: set attn_implementation="afa" where the model reads it
    from its config, and route the inline attention of older models (MPNet) through it."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if getattr(base, "_supports_attention_backend", False):
        base.set_attn_implementation(IMPLEMENTATION)
        return
    if not route_mpnet_attention(base):
        raise UserError(f"{type(base).__name__} has no attention kernel afa knows; it needs a "
                        "model on transformers' attention interface (BERT, Llama, ...) or MPNet.")
