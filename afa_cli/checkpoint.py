"""Loading a trained checkpoint to score or inspect it, with the config it is read with: the one
service eval, suites, predict and inspect-attention share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from afa_cli import runs
from afa_cli.config import compose_config
from afa_cli.data import Split, load_split
from afa_cli.errors import UserError
from afa_cli.lexicon import frequent_words
from afa_cli.distributed import enable_tf32, resolve_device
from afa_cli.models import AttendingClassifier, load_checkpoint


def compose_for_run(run: runs.Run | None, overrides: list[str], config_dirs: Sequence[Path] = (),
                    dataset: str | None = None) -> DictConfig:
    """The config a run's checkpoint is read with: the run's own config (config.yaml, on today's
    schema) with each key or group the overrides name taken from those overrides composed (in the
    folders the run was composed with, then config_dirs), so that Hydra checks them and what the
    run was trained with stays as it was, whatever conf/ has become since. `dataset` reads it
    with another dataset's option, whole: the run's own dataset keys do not reach it. `run` None
    (a checkpoint folder outside a run): composed from these alone."""
    overrides = [*overrides, *([f"dataset={dataset}"] if dataset is not None else [])]
    if run is None:
        return compose_config(overrides, config_dirs)
    cfg = run.config()
    if not overrides:
        return cfg
    composed = compose_config(overrides, [*run.config_dirs(), *config_dirs])
    for override in OverridesParser.create().parse_overrides(overrides):
        key = override.key_or_group  # a group (dataset=mr) takes the composed option whole
        OmegaConf.update(cfg, key, OmegaConf.select(composed, key), merge=False, force_add=True)
    return cfg


@dataclass
class LoadedCheckpoint:
    checkpoint: Path
    run: runs.Run | None    # None for a checkpoint folder outside a run
    cfg: DictConfig
    model: object
    tokenizer: object

    @property
    def label_names(self) -> list[str]:
        return [self.model.config.id2label[i] for i in range(self.model.config.num_labels)]

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id

    def scoring_net(self) -> AttendingClassifier:
        """The classifier that scores: the policy layer's attention, the training precision."""
        return AttendingClassifier(self.model, layer=self.cfg.afa.layer,
                                   precision=self.cfg.train.precision)

    def scored_rows(self, split: str) -> Split:
        """Every row of a split of cfg.dataset, checked against the checkpoint's labels."""
        if self.cfg.dataset.num_labels != len(self.label_names):
            raise UserError(f"dataset={self.cfg.dataset.name} has {self.cfg.dataset.num_labels} "
                            f"labels but the checkpoint predicts {len(self.label_names)}.")
        return load_split(self.cfg.dataset, split)

    def frequent_words(self, fallback_texts: list[str]) -> list[str]:
        """The run's own frequent-word list (from its training rows) when there is one, else
        that of the dataset's training split, else that of the scored texts."""
        words = self.run.frequent_words() if self.run is not None else None
        if words is not None:
            return words
        try:
            return frequent_words(load_split(self.cfg.dataset, "train").texts)
        except UserError:
            return frequent_words(fallback_texts)


def load_for_scoring(path: str | Path, overrides: list[str] = (), config_dirs: list[Path] = (),
                     dataset: str | None = None, require_trained_head: bool = False,
                     device: str = "auto") -> LoadedCheckpoint:
    """A run folder (its best checkpoint) or a checkpoint folder, and its config: the run's own,
    or the run's overrides plus these, composed with the run's config folders; `dataset` names
    the dataset to read it with when it is not the run's own. `require_trained_head` refuses
    a model whose classification head the checkpoint does not hold (it would be random). The
    model goes to `device` (auto: the GPU when there is one)."""
    where = resolve_device(device, option="--device ")
    checkpoint, run = runs.resolve(path)
    cfg = compose_for_run(run, list(overrides), list(config_dirs))
    if dataset is not None and cfg.dataset.name != dataset:
        cfg = compose_for_run(run, list(overrides), list(config_dirs), dataset=dataset)
    return load_composed(checkpoint, run, cfg, require_trained_head, where)


def load_composed(checkpoint: Path, run: runs.Run | None, cfg: DictConfig,
                  require_trained_head: bool, device: torch.device) -> LoadedCheckpoint:
    """The checkpoint's model on `device`, read with a config already composed for it."""
    model, tokenizer = load_checkpoint(checkpoint, require_trained_head)
    enable_tf32(device)
    return LoadedCheckpoint(checkpoint, run, cfg, model.to(device), tokenizer)
