"""The config schema: a dataclass per config group and one for the root, registered in Hydra's
ConfigStore. Every option in conf/ (or in a user's --config-dir) is merged onto these, so each key
has one type, one default and one help text, and a value of the wrong type stops composition.

What a type cannot express (bounds, a list's length) sits in the field's metadata next to its
help (see afa_cli.afa.config.setting); `invalid_values` checks it."""

import operator
import re
from dataclasses import MISSING as MISSING_FIELD, dataclass, field, fields, is_dataclass
from enum import StrEnum
from typing import Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from afa_cli.afa.config import AFAConfig, setting

# The ConfigStore name of each group's schema: an option extends it with `defaults: [schema]`.
SCHEMA = "schema"
LORA_SCHEMA = "schema_lora"
FOLDER_NAME = r"[A-Za-z0-9._=+-]+"  # a name that is one folder, not a path


def is_folder_name(name: str) -> bool:
    return re.fullmatch(FOLDER_NAME, name) is not None


FOLDER_NAME_RULE = "letters, digits and . _ = + -"


class ModelKind(StrEnum):
    encoder = "encoder"  # attention is read from the first token ([CLS])
    decoder = "decoder"  # attention is read from the last real token


class Precision(StrEnum):
    fp32 = "fp32"  # the reference
    bf16 = "bf16"  # autocast


class Device(StrEnum):
    auto = "auto"  # cuda when torch sees a GPU (under torchrun: the local rank's), else cpu
    cpu = "cpu"
    cuda = "cuda"


@dataclass
class DatasetConfig:
    name: str = setting(MISSING, "the dataset's name in run folders and reports")
    local_dir: str = setting("${.name}", "local copy: $AFA_DATA_DIR/<local_dir>/<split file>"
                                         ".{tsv,csv,jsonl}")
    hub_id: Optional[str] = setting(None, "Hugging Face Hub dataset id, used when there is no "
                                          "local copy")
    hub_config: Optional[str] = setting(None, "the hub dataset's configuration name")
    path: Optional[str] = setting(None, "an explicit file or folder; wins over AFA_DATA_DIR and "
                                        "the hub")
    text_col: str = setting("sentence", "the column holding the text")
    label_col: str = setting("label", "the column holding the label")
    num_labels: int = setting(MISSING, "number of classes", ge=2)
    label_names: list[str] = setting(MISSING, "class names, label 0 first",
                                     length_of="num_labels")
    local_splits: dict[str, str] = setting({"train": "train"},
                                           "afa split name -> local file stem")
    hub_splits: dict[str, str] = setting({"train": "train"}, "afa split name -> hub split name")
    hub_text_col: Optional[str] = setting(None, "the hub dataset's text column; null = text_col")
    hub_label_col: Optional[str] = setting(None, "the hub dataset's label column; null = "
                                                 "label_col")
    val_fraction: float = setting(0.1, "fraction of train carved out as validation when there "
                                       "is no validation split", gt=0, lt=1)
    split_seed: int = setting(0, "seed of that carving")
    pair_col: Optional[str] = setting(None, "a column pairing rows (an original and its "
                                            "counterfactual revision); null = no pairs")
    eval_only: bool = setting(False, "evaluation-only data: afa train refuses it")


@dataclass
class ModelConfig:
    name: str = setting(MISSING, "the model's name in run folders and reports")
    source: str = setting(MISSING, 'where the weights come from: "package:<distribution>" (an '
                                   "installed model package), a local folder or a Hub id")
    kind: ModelKind = setting(ModelKind.encoder, "where the classifier reads attention from")
    max_length: int = setting(128, "tokens kept per text", ge=8)
    num_layers: Optional[int] = setting(None, "keep only the first N transformer layers "
                                              "(null = all)", ge=1)


@dataclass
class LoraConfig:
    r: Optional[int] = setting(8, "adapter rank; 0 or null fine-tunes every weight")
    alpha: int = setting(16, "adapter scaling")
    dropout: float = setting(0.05, "dropout on the adapters' input")
    target_modules: list[str] = setting(MISSING, "the backbone's modules that get adapters")


@dataclass
class LoraModelConfig(ModelConfig):
    """A model fine-tuned through LoRA adapters; the classification head is trained in full."""

    lora: LoraConfig = field(default_factory=LoraConfig, metadata={"help": "LoRA (peft) settings"})


@dataclass
class AFAGroupConfig(AFAConfig):
    """The method's settings plus the keys only the training loop reads."""

    enabled: bool = setting(True, "false: plain fine-tuning through the same loop")
    layer: int = setting(-1, "attention layer read for the policy (-1 = last)")
    collapse_entropy: float = setting(0.2, "warn when the normalised attention entropy drops "
                                           "below this")


@dataclass
class TrainConfig:
    epochs: int = setting(1, "passes over the training rows", ge=1)
    max_steps: Optional[int] = setting(None, "optimizer steps whatever the training set's size "
                                             "(epochs repeat; replaces epochs; null = epochs)",
                                       ge=1)
    batch_size: int = setting(16, "examples per optimizer step", ge=1)
    lr: float = setting(1e-4, "peak learning rate", gt=0)
    warmup_ratio: float = setting(0.06, "fraction of the steps with a rising learning rate")
    weight_decay: float = setting(0.01, "AdamW weight decay (not on biases and norms)")
    max_grad_norm: float = setting(1.0, "gradient clipping")
    max_train_samples: Optional[int] = setting(None, "training rows kept (null = all)", ge=1)
    max_eval_samples: Optional[int] = setting(None, "validation rows kept (null = all)", ge=1)
    eval_every: int = setting(500, "evaluate every N optimizer steps (and at each epoch end)",
                              ge=1)
    patience: Optional[int] = setting(5, "stop after this many evaluations without a better "
                                         "best_metric (null = never)", ge=1)
    best_metric: str = setting("accuracy", "the validation metric that picks checkpoints/best "
                                           "and counts patience, in its registry direction")
    log_every: int = setting(50, "log the training means every N steps", ge=1)
    save_every: Optional[int] = setting(None, "rewrite checkpoints/last with the whole training "
                                              "state every N steps, so that a hard stop loses at "
                                              "most N (null = at every evaluation)", ge=1)
    num_threads: int = setting(2, "torch threads per process; under torchrun on CPU, capped at "
                                  "cores / processes on the node", ge=1)
    length_group_pool: int = setting(50, "batches are drawn from pools of batch_size × this "
                                         "many length-sorted examples")
    precision: Precision = setting(Precision.fp32, "bf16 autocast or the fp32 reference")
    device: Device = setting(Device.auto, "where training runs")
    compile: bool = setting(False, "run the model through torch.compile (on CUDA with CUDA "
                                   "graphs, mode=reduce-overhead); slower on a 2-core CPU, see "
                                   "docs/bench.md")
    pad_to_multiple_of: Optional[int] = setting(None, "pad every batch up to a multiple of this "
                                                      "many tokens, so that compiled shapes "
                                                      "repeat (null: 16 under train.compile, "
                                                      "else none)", ge=1)


class WandbMode(StrEnum):
    offline = "offline"  # files in <run>/wandb/, sent later by `wandb sync`
    online = "online"    # sent while the run trains (needs `wandb login`)


@dataclass
class TensorBoardConfig:
    dir: str = setting("tensorboard", "the event files' folder inside the run folder",
                       folder_name=True)


@dataclass
class MLflowConfig:
    tracking_uri: Optional[str] = setting(None, "an http(s):// server, databricks or a "
                                                "sqlite:/// file; null: $MLFLOW_TRACKING_URI, "
                                                "else sqlite:///<output_dir>/mlflow.db")


@dataclass
class WandbConfig:
    entity: Optional[str] = setting(None, "the W&B team or user (null: your default)")
    mode: Optional[WandbMode] = setting(None, "null: $WANDB_MODE, else offline")


@dataclass
class LoggerConfig:
    """The trackers a run logs to besides metrics.jsonl (always written). Each option of the
    logger group sets one of them; several at once: logger=[tensorboard,mlflow]."""

    experiment: str = setting("afa", "the MLflow experiment and W&B project the run joins")
    tensorboard: Optional[TensorBoardConfig] = setting(None, "TensorBoard event files")
    mlflow: Optional[MLflowConfig] = setting(None, "an MLflow run")
    wandb: Optional[WandbConfig] = setting(None, "a Weights & Biases run")


@dataclass
class Config:
    """One run: dataset × model × AFA method × training schedule."""

    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    afa: AFAGroupConfig = field(default_factory=AFAGroupConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    seed: int = setting(1, "seed of the model's initialisation, data order and masks")
    name: Optional[str] = setting(None, "appended to the run folder name: "
                                        "<output_dir>/<dataset>/<model>/<time>_<name>",
                                  folder_name=True)
    output_dir: str = setting("outputs", "where run folders go (afa train --run-dir names one "
                                         "exactly)")


# The config groups one run composes (the root's dataclass fields): dataset, model, afa, train,
# logger.
GROUPS = tuple(f.name for f in fields(Config) if f.default_factory is not MISSING_FIELD)


def register() -> None:
    store = ConfigStore.instance()
    root = OmegaConf.structured(Config)
    # Open at the top level while Hydra composes, so that +sweep=NAME can add a preset's node;
    # Hydra closes the composed config before it applies the command-line overrides.
    OmegaConf.set_struct(root, False)
    store.store(name=SCHEMA, node=root)
    for group, schema in (("dataset", DatasetConfig), ("model", ModelConfig),
                          ("afa", AFAGroupConfig), ("train", TrainConfig)):
        store.store(group=group, name=SCHEMA, node=schema)
    store.store(group="model", name=LORA_SCHEMA, node=LoraModelConfig)


def on_schema(saved: DictConfig) -> DictConfig:
    """A run's saved config on today's schema, the one place older runs are brought up to date:
    a key added since the run was made reads its default, and every value has its schema type.
    Keys outside the schema (a LoRA model's, a +key=value) stay as saved."""
    typed = OmegaConf.structured(Config)
    if "lora" in saved.get("model", {}):
        typed.model = OmegaConf.structured(LoraModelConfig)
    OmegaConf.set_struct(typed, False)
    return OmegaConf.merge(typed, saved)


BOUNDS = {"gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le}
SYMBOLS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def invalid_values(cfg: DictConfig, prefix: str = "") -> list[str]:
    """What breaks the checks in the metadata of cfg's schema fields, e.g.
    'afa.mask_ratio must be in (0, 1]'; nodes without a schema (added keys) are not checked."""
    schema = OmegaConf.get_type(cfg)
    if not is_dataclass(schema):
        return []
    errors = []
    for f in fields(schema):
        value, key = cfg.get(f.name), f"{prefix}{f.name}"
        if isinstance(value, DictConfig):
            errors += invalid_values(value, f"{key}.")
            continue
        if value is None:
            continue
        bounds = {name: bound for name, bound in f.metadata.items() if name in BOUNDS}
        if not all(BOUNDS[name](value, bound) for name, bound in bounds.items()):
            errors.append(f"{key} must be {describe(bounds)}")
        if f.metadata.get("folder_name") and not is_folder_name(str(value)):
            errors.append(f"{key} must be one folder name: {FOLDER_NAME_RULE}")
        sibling = f.metadata.get("length_of")
        if sibling is not None and len(value) != cfg[sibling]:
            errors.append(f"{key} must have {prefix}{sibling} entries")
    return errors


def describe(bounds: dict) -> str:
    """'>= 1', or an interval such as 'in (0, 1]' for a lower and an upper bound."""
    if len(bounds) == 1:
        (name, bound), = bounds.items()
        return f"{SYMBOLS[name]} {bound}"
    low = "(" if "gt" in bounds else "["
    high = ")" if "lt" in bounds else "]"
    lower = bounds.get("gt", bounds.get("ge"))
    upper = bounds.get("lt", bounds.get("le"))
    return f"in {low}{lower}, {upper}{high}"
