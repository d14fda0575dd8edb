"""Backbones: where the weights come from (package, GGUF file, folder, hub), loading them on afa's
attention kernel (optionally with LoRA adapters), and reading one layer's attention at the query
position ([CLS] or the last real token)."""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
import os
import shutil
import warnings
import zipfile
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

from afa_cli import files
from afa_cli.afa.method import Forward
from afa_cli.attention_kernels import AttentionRecorder, attention_modules, ensure_fast_attention
from afa_cli.data import CACHE_DIR
from afa_cli.errors import UserError
from afa_cli.fast_dropout import use_uniform_dropout

QUERY_FIRST, QUERY_LAST = "first", "last"
ADAPTER_CONFIG = "adapter_config.json"  # a checkpoint holding a LoRA adapter, not a whole model


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
    # Found through the package's file list, never by importing it: GGUF packages are plugins
    # of other tools whose imports need dependencies afa does not install.
    gguf = _gguf_file(dist)
    if gguf is not None:
        return _convert_gguf(dist, gguf)
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


def _cached_model_folder(name: str, build: Callable[[Path], Path]) -> Path:
    """CACHE_DIR/models/<name>, built once: `build(scratch)` writes a model folder inside an
    empty scratch folder and returns it; it is renamed into place only when complete, so an
    interrupted build is never mistaken for a model."""
    target = CACHE_DIR / "models" / name
    if (target / "config.json").is_file():
        return target
    scratch = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        scratch.mkdir(parents=True)
        built = build(scratch)
        try:
            os.replace(built, target)
        except OSError:
            if not (target / "config.json").is_file():  # not another process finishing first
                raise
    except BaseException as err:
        if (failure := files.room_error(target, err, "run the command again (or set "
                                        "AFA_CACHE_DIR to a folder with room)")) is not None:
            raise failure from None
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _extract_split_zip(dist: str, parts: list[Path]) -> Path:
    """Join the parts once into a cached model folder."""

    def build(scratch: Path) -> Path:
        joined = scratch / "joined.zip"
        with joined.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out)
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(scratch / "unzipped")
        configs = sorted((scratch / "unzipped").rglob("config.json"), key=lambda p: len(p.parts))
        if not configs:
            raise UserError(f"The parts of '{dist}' hold no config.json: reinstall the package.")
        return configs[0].parent

    return _cached_model_folder(dist, build)


def _gguf_file(dist: str) -> Path | None:
    """The .gguf file an installed distribution ships, if any."""
    try:
        distribution = importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
    ggufs = sorted(Path(distribution.locate_file(f)) for f in distribution.files or []
                   if str(f).endswith(".gguf"))
    return ggufs[0] if ggufs else None


def _convert_gguf(dist: str, gguf: Path) -> Path:
    """An ordinary model folder (float32 safetensors + tokenizer) made once from a GGUF file,
    keyed by the package version: de-quantising the file takes longer than loading the folder."""
    missing = [name for name in ("gguf", "accelerate") if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f"model.source=package:{dist} is a GGUF file, which needs "
                        f"{' and '.join(missing)}: pip install 'afa[llm]'.")

    def build(scratch: Path) -> Path:
        from transformers import AutoModelForCausalLM, GgufConfig

        folder, name = str(gguf.parent), gguf.name
        quantized = AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=name, quantization_config=GgufConfig(dequantize=True))
        # The loaded model still carries its GGUF quantizer, which refuses to save; its dense
        # weights move into a plain model of the same config.
        with torch.device("meta"):
            plain = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder, gguf_file=name))
        plain.load_state_dict(quantized.state_dict(), assign=True)
        plain.tie_weights()
        out = scratch / "model"
        plain.save_pretrained(out)
        AutoTokenizer.from_pretrained(folder, gguf_file=name).save_pretrained(out)
        return out

    return _cached_model_folder(f"{dist}-{importlib.metadata.version(dist)}", build)


# ---------------------------------------------------------------------------------------------
# Loading.
# ---------------------------------------------------------------------------------------------

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


def query_position_kind(model) -> str:
    return getattr(model.config, "afa_query_position", QUERY_FIRST)


def query_positions(attention_mask: torch.Tensor, kind: str) -> torch.Tensor:
    """[B] index of the token whose attention row is the policy: the first, or the last attended
    one (which afa.mask_with=drop can leave before holes in the mask, not only padding)."""
    if kind == QUERY_LAST:
        positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
        return (positions * attention_mask).argmax(dim=1)
    return torch.zeros(attention_mask.shape[0], dtype=torch.long, device=attention_mask.device)


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
        self.query_row_tail = _last_attention_block(model) if self.query_kind == QUERY_FIRST else None

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
        with reading, self._first_row_tail(), torch.autocast(self.device.type, dtype=torch.bfloat16,
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

    @contextlib.contextmanager
    def _first_row_tail(self):
        if self.query_row_tail is None:
            yield
            return
        handle = self.query_row_tail.register_forward_hook(_keep_first_row)
        try:
            yield
        finally:
            handle.remove()


def _last_attention_block(model) -> torch.nn.Module:
    """The module whose output the last layer's feed-forward block reads (BertAttention,
    MPNetAttention): the parent of the last self-attention module."""
    last = attention_modules(model)[-1]
    return next(m for m in model.modules() if any(child is last for child in m.children()))


def _keep_first_row(module, args, output):
    """[B, T, D] -> [B, 1, D]: the last layer continues on the first token's row alone."""
    return (output[0][:, :1], *output[1:])

