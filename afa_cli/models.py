"""Backbones: where the weights come from (package, folder, hub), loading with eager attention,
and reading one layer's attention at the query position ([CLS] or the last real token)."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import shutil
import zipfile
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

from afa_cli.data import CACHE_DIR
from afa_cli.errors import UserError

QUERY_FIRST, QUERY_LAST = "first", "last"


# ---------------------------------------------------------------------------------------------
# Where the weights come from.
# ---------------------------------------------------------------------------------------------

def resolve_source(source: str) -> str:
    """A local folder or hub id for model.source ('package:<dist>', a folder, or a hub id)."""
    if source.startswith("package:"):
        return str(_package_folder(source.removeprefix("package:")))
    path = Path(source).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise UserError(f"Model folder {path} has no config.json: not a Hugging Face model folder.")
        return str(path)
    return source


def _package_folder(dist: str) -> Path:
    """The model folder shipped by an installed model package."""
    module_name = dist.replace("-", "_")
    try:
        module = importlib.import_module(module_name)
        if hasattr(module, "get_model_path"):
            return Path(module.get_model_path())
    except ImportError:
        pass
    split_zip_parts = _split_zip_parts(dist)
    if split_zip_parts:
        return _extract_split_zip(dist, split_zip_parts)
    raise UserError(
        f"Model package '{dist}' is not installed. Fix: pip install {dist} "
        f"(or point model.source at a local model folder or hub id)."
    )


def _split_zip_parts(prefix: str) -> list[Path]:
    """Files '<name>.zip.001', '.002', ... shipped by the wheels '<prefix>-part-00N'."""
    parts = []
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if name.startswith(prefix.lower() + "-part-"):
            parts.extend(Path(dist.locate_file(f)) for f in dist.files or []
                         if ".zip." in str(f))
    return sorted(parts, key=lambda p: p.name)


def _extract_split_zip(dist: str, parts: list[Path]) -> Path:
    """Join the parts once into a cached model folder."""
    target = CACHE_DIR / "models" / dist
    if (target / "config.json").is_file():
        return target
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    joined = tmp / "joined.zip"
    with joined.open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                shutil.copyfileobj(src, out)
    with zipfile.ZipFile(joined) as archive:
        archive.extractall(tmp / "unzipped")
    joined.unlink()
    configs = sorted((tmp / "unzipped").rglob("config.json"), key=lambda p: len(p.parts))
    if not configs:
        raise UserError(f"The parts of '{dist}' hold no config.json: reinstall the package.")
    shutil.move(str(configs[0].parent), str(target))
    shutil.rmtree(tmp, ignore_errors=True)
    return target


# ---------------------------------------------------------------------------------------------
# Loading.
# ---------------------------------------------------------------------------------------------

def load_pretrained(mcfg, label_names: list[str]):
    """(model, tokenizer) for fine-tuning: a fresh classification head over the backbone."""
    location = resolve_source(mcfg.source)
    try:
        config = AutoConfig.from_pretrained(location)
    except OSError as err:
        raise UserError(f"Cannot load model '{mcfg.source}': {str(err).splitlines()[0]}") from None
    config.num_labels = len(label_names)
    config.id2label = dict(enumerate(label_names))
    config.label2id = {name: i for i, name in enumerate(label_names)}
    config.afa_query_position = QUERY_LAST if mcfg.kind == "decoder" else QUERY_FIRST
    if mcfg.num_layers is not None:
        config.num_hidden_layers = min(mcfg.num_layers, config.num_hidden_layers)
    tokenizer = AutoTokenizer.from_pretrained(location)
    model = AutoModelForSequenceClassification.from_pretrained(
        location, config=config, attn_implementation="eager")
    _ensure_padding(model, tokenizer)
    return model, tokenizer


def load_checkpoint(path: str | Path):
    """(model, tokenizer) from a checkpoint folder that afa (or anyone) saved."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise UserError(f"{path} is not a checkpoint folder (no config.json).")
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForSequenceClassification.from_pretrained(path, attn_implementation="eager")
    except (OSError, ValueError, RuntimeError) as err:
        raise UserError(f"Cannot load checkpoint {path}: {str(err).splitlines()[0]}") from None
    _ensure_padding(model, tokenizer)
    return model, tokenizer


def _ensure_padding(model, tokenizer) -> None:
    """Decoders often ship without a pad token; sequence classification needs one."""
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    tokenizer.padding_side = "right"
    model.config.pad_token_id = tokenizer.pad_token_id


def query_position_kind(model) -> str:
    return getattr(model.config, "afa_query_position", QUERY_FIRST)


def query_positions(attention_mask: torch.Tensor, kind: str) -> torch.Tensor:
    """[B] index of the token whose attention row is the policy: first, or last real (right padding)."""
    if kind == QUERY_LAST:
        return attention_mask.sum(dim=1) - 1
    return torch.zeros(attention_mask.shape[0], dtype=torch.long, device=attention_mask.device)


def num_layers(model) -> int:
    return model.config.num_hidden_layers


# ---------------------------------------------------------------------------------------------
# Reading one layer's attention without asking the model for every layer's matrix.
# ---------------------------------------------------------------------------------------------

def _attention_modules(model) -> list[torch.nn.Module]:
    """The self-attention module of each layer, in order; each returns (output, weights, ...)."""
    recorder = getattr(model, "_can_record_outputs", None) or {}
    target = recorder.get("attentions")
    target_class = getattr(target, "target_class", target)
    if isinstance(target_class, type):
        modules = [m for m in model.modules() if isinstance(m, target_class)]
        if modules:
            return modules
    raise UserError(
        f"Cannot locate the attention layers of {type(model).__name__}; afa needs a model whose "
        "attention modules transformers can record (BERT, MPNet, Llama, ...)."
    )


class AttentionRecorder:
    """Keeps the attention weights [B, H, T, T] of one layer during the forward passes inside
    `with recorder:`; the tensor stays in the autograd graph so the policy gradient reaches θ."""

    def __init__(self, model, layer: int):
        modules = _attention_modules(model)
        if not -len(modules) <= layer < len(modules):
            raise UserError(f"afa.layer={layer} is out of range: the model has {len(modules)} layers.")
        self.module = modules[layer]
        self.weights: torch.Tensor | None = None
        self._handle = None

    def _hook(self, module, args, output):
        weights = output[1] if isinstance(output, tuple) and len(output) > 1 else None
        if weights is None:
            raise RuntimeError("attention weights are None: load the model with attn_implementation='eager'")
        self.weights = weights

    def __enter__(self):
        self.weights = None
        self._handle = self.module.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc):
        self._handle.remove()
        self._handle = None
        return False

    def query_rows(self, attention_mask: torch.Tensor, kind: str) -> torch.Tensor:
        """[B, H, T] attention of the query token to every token, from the last forward pass."""
        rows = query_positions(attention_mask, kind)
        batch = torch.arange(attention_mask.shape[0], device=attention_mask.device)
        return self.weights[batch, :, rows, :]


class AttendingClassifier:
    """A sequence classifier that also reports, per forward pass, its pooled state and one
    layer's attention row at the query position: everything AFA and inspection read."""

    def __init__(self, model, layer: int = -1, head: int | None = None, precision: str = "fp32"):
        self.model = model
        self.recorder = AttentionRecorder(model, layer)
        self.head = head
        self.query_kind = query_position_kind(model)
        self.bf16 = precision == "bf16"

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, train_mode: bool):
        """logits [N, C], pooled [N, D], token_attention [N, T]."""
        self.model.train(train_mode)
        with self.recorder, torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            out = self.model(input_ids=input_ids, attention_mask=attention_mask,
                             output_hidden_states=True)
        rows = self.recorder.query_rows(attention_mask, self.query_kind)       # [N, H, T]
        token_attention = rows.mean(dim=1) if self.head is None else rows[:, self.head]
        positions = query_positions(attention_mask, self.query_kind)
        batch = torch.arange(input_ids.shape[0], device=input_ids.device)
        pooled = out.hidden_states[-1][batch, positions]                       # [N, D]
        return out.logits.float(), pooled, token_attention.float()
