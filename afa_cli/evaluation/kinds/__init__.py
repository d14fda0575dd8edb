"""The kinds of probe a suite can run, as plugins. Each module of this package defines one
`KIND`: how the probe is measured, the number it is compared by (a registry metric, so its
unit), its table's columns and legend, and how two runs of it are paired. Suites name a kind by
its module's name; adding a kind is adding a module here (and its test)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from afa_cli.errors import UserError
from afa_cli.metrics.registry import Metric

if TYPE_CHECKING:
    from afa_cli.data import Split
    from afa_cli.evaluation.context import ProbeContext
    from afa_cli.evaluation.suites import ProbeConfig


class Measured(NamedTuple):
    metrics: dict
    correct: np.ndarray | None   # per example: right or not (None: the kind has no such thing)
    files: list[str]             # written beside the report


class PairedBy(Enum):
    PREDICTIONS = "predictions"  # the headline from per-example predictions: McNemar, bootstrap
    SEEDS = "seeds"              # the headline per seed: paired t over seeds


@dataclass(frozen=True)
class ProbeKind:
    name: str
    # (probe, its rows, tokens per text, what the checkpoint's probes share) -> what it measured
    measure: Callable[[ProbeConfig, Split, int, ProbeContext], Measured]
    headline: Metric                         # the number runs are compared by
    columns: tuple[tuple[str, str], ...]     # its table: (metric key, short column title)
    legend: str                              # what the short titles mean
    paired_by: PairedBy
    skippable: bool = False  # a resource it needs is missing (WordNet): skipped, the suite goes on


def kind_names() -> list[str]:
    """The kinds there are, without loading them."""
    return sorted(module.name for module in pkgutil.iter_modules(__path__))


@cache
def probe_kind(name: str) -> ProbeKind:
    """The kind a probe names (suites are checked against kind_names when read; a report may
    name one not installed here)."""
    if name not in kind_names():
        raise UserError(f"no probe kind {name} here (the kinds are {', '.join(kind_names())}): "
                        f"a report of {name} probes is read where that kind is installed.")
    kind = importlib.import_module(f"{__name__}.{name}").KIND
    assert kind.name == name, f"{__name__}.{name} defines the kind {kind.name}"
    return kind
