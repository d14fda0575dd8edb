"""How an afa event becomes a tracker's metrics, and the config its parameters: the one mapping
every tracker, live or replayed, logs through."""

from __future__ import annotations

import json
import math
import re

from omegaconf import DictConfig, OmegaConf

from afa_cli.runs import Event

Param = str | int | float | bool


def metric_name(split: str, key: str) -> str:
    """'validation/accuracy'. MLflow takes only letters, digits and _ - . / and spaces in a name,
    so lexicon_precision@5 is lexicon_precision_at_5 here, in every tracker alike."""
    return f"{split}/" + re.sub(r"[^\w./ -]", "_", key.replace("@", "_at_"))


def scalars(event: Event) -> dict[str, float]:
    """The event's numbers by metric name: per-class tables and the confusion matrix are not
    scalars, and an undefined value (NaN; null in metrics.jsonl) is left out, not logged as 0."""
    return {metric_name(event.split, key): float(value) for key, value in event.metrics.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value)}


def flat_config(cfg: DictConfig) -> dict[str, Param]:
    """The resolved config one level deep ('train.lr': 0.0001), as trackers' parameters take it;
    lists and nulls as their JSON text."""
    flat: dict[str, Param] = {}

    def add(node: dict, prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict) and value:
                add(value, f"{prefix}{key}.")
            else:
                flat[f"{prefix}{key}"] = (value if isinstance(value, (str, int, float, bool))
                                          else json.dumps(value))

    add(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True), "")
    return flat
