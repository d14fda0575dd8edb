"""The checkpoints being inspected, each loaded once with the config it is read with, and the
choice of attention to show (method, layer, head)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from afa_cli.checkpoint import LoadedCheckpoint, load_for_scoring
from afa_cli.errors import UserError
from afa_cli.inspect.rollout import RolloutClassifier
from afa_cli.models import AttendingClassifier, num_layers, query_position_kind
from afa_cli.paths import shown_path

METHODS = ("cls", "rollout")


@dataclass(frozen=True)
class AttentionSpec:
    """Which attention to show: `cls` reads one layer's query row (what AFA trains), `rollout`
    the rollout through the layers up to that one."""

    method: str = "cls"
    layer: int | None = None   # None: the layer the run trains AFA on (afa.layer)
    head: int | None = None    # None: mean of the heads

    def check(self) -> None:
        if self.method not in METHODS:
            raise UserError(f"--method {self.method}: choose one of {', '.join(METHODS)}.")
        if self.method == "rollout" and self.head is not None:
            raise UserError("--head picks a head of one layer; it does not combine with "
                            "--method rollout (which averages the heads of every layer).")


@dataclass
class ModelInfo:
    """What reports say about an inspected model."""

    name: str
    checkpoint: str            # as the user gave it (see shown_path)
    afa_enabled: bool | None   # None for a checkpoint folder outside a run
    attention: str             # e.g. "layer 5 of 6, mean of 12 heads, first-token row"
    method: str
    layer: int
    head: int | None


@dataclass
class InspectedModel(LoadedCheckpoint):
    name: str = ""

    def layer_index(self, spec: AttentionSpec) -> int:
        """The non-negative index of the layer spec asks for; UserError when out of range."""
        layer = self.cfg.afa.layer if spec.layer is None else spec.layer
        total = num_layers(self.model)
        if not -total <= layer < total:
            raise UserError(f"--layer {layer} is out of range: {self.name} has {total} layers "
                            f"(0 to {total - 1}, or -1 for the last).")
        return layer % total

    def net(self, spec: AttentionSpec, layer: int | None = None):
        """The classifier whose token attention `predict` turns into word attention."""
        layer = self.layer_index(spec) if layer is None else layer
        heads = self.model.config.num_attention_heads
        if spec.head is not None and not 0 <= spec.head < heads:
            raise UserError(f"--head {spec.head} is out of range: {self.name} has {heads} heads "
                            f"(0 to {heads - 1}).")
        if spec.method == "rollout":
            return RolloutClassifier(self.model, layer, self.cfg.train.precision)
        return AttendingClassifier(self.model, layer=layer, head=spec.head,
                                   precision=self.cfg.train.precision)

    def info(self, spec: AttentionSpec) -> ModelInfo:
        layer, total = self.layer_index(spec), num_layers(self.model)
        heads = self.model.config.num_attention_heads
        if spec.method == "rollout":
            what = f"attention rollout through layer {layer} (0-based, of {total})"
        else:
            head = f"head {spec.head}" if spec.head is not None else f"mean of {heads} heads"
            what = f"layer {layer} (0-based, of {total}), {head}"
        row = "last-token" if query_position_kind(self.model) == "last" else "first-token"
        return ModelInfo(self.name, shown_path(self.checkpoint),
                         bool(self.cfg.afa.enabled) if self.run is not None else None,
                         f"{what}, {row} row", spec.method, layer, spec.head)


def load_inspected(paths: list[Path], dataset: str | None = None,
                   device: str = "auto") -> list[InspectedModel]:
    """Load each run or checkpoint folder onto `device`; with a dataset name, configure it for
    that dataset."""
    models = []
    for path in paths:
        models.append(InspectedModel(**vars(load_for_scoring(path, dataset=dataset,
                                                             device=device))))
    if any(m.label_names != models[0].label_names for m in models):
        raise UserError("The checkpoints predict different labels ("
                        + " vs ".join(", ".join(m.label_names) for m in models)
                        + "); compare models of the same task.")
    for model, name in zip(models, _names(models)):
        model.name = name
    return models


def _names(models: list[InspectedModel]) -> list[str]:
    """Short names for tables: the run's name, else baseline / AFA, else the folder name."""
    names = []
    for m in models:
        if m.run is None:
            names.append(m.checkpoint.name)
        else:
            names.append(m.cfg.get("name") or ("AFA" if m.cfg.afa.enabled else "baseline"))
    if len(set(names)) < len(names):
        names = [f"{name} ({i + 1})" for i, name in enumerate(names)]
    return names
