"""Runs grouped into variants: runs whose overrides differ only in what never tells variants
apart (the seed, where they were written, their threads). Results tables and the paired
comparisons of `afa eval --suite` group runs the same way."""

from __future__ import annotations

from typing import Callable, TypeVar

from omegaconf import Container, OmegaConf

from afa_cli.runs import Run

# Overrides that never tell variants apart: the seed, where a run went (run_dir in the
# config.yaml of runs made before --run-dir), how many threads it had, the tracker experiment it
# joined (a sweep names it after itself).
IGNORED_OVERRIDES = ("seed", "output_dir", "run_dir", "name", "train.num_threads",
                     "logger.experiment")

T = TypeVar("T")


def variant_overrides(run: Run, dataset: str) -> list[str]:
    """The overrides that can tell the run's variant apart: the dataset first, the rest sorted."""
    overrides = [o for o in run.overrides()
                 if o.split("=", 1)[0].lstrip("+") not in (*IGNORED_OVERRIDES, "dataset")]
    return [f"dataset={dataset}", *sorted(overrides)]


def group_by_variant(items: list[T], overrides: Callable[[T], list[str]]) -> dict[str, list[T]]:
    """Items by variant, in the order the variants first appear. A variant is named by its
    overrides less those every item shares."""
    shared = set.intersection(*(set(overrides(item)) for item in items)) if items else set()
    groups: dict[str, list[T]] = {}
    for item in items:
        label = " ".join(o for o in overrides(item) if o not in shared) or "(shared settings)"
        groups.setdefault(label, []).append(item)
    return groups


def as_values(overrides: list[str]) -> dict[str, str]:
    """key -> value of overrides such as `afa=off` (a `+` or `~` prefix aside)."""
    return dict(o.lstrip("+~").split("=", 1) for o in overrides if "=" in o)


def with_setting(values: dict[str, str], run: Run, key: str) -> dict[str, str]:
    """A variant's override values, and where none sets `key`, the value its run was made with
    (read from its config.yaml, when the run exists): afa=attention runs that left afa.schedule
    at its default are the afa.schedule=always variant, so --baseline can name them."""
    if key in values or not Run.is_run(run.path):
        return values
    setting = OmegaConf.select(run.config(), key, default=None)
    if setting is None or isinstance(setting, Container):   # unset, or a group (afa)
        return values
    return {**values, key: str(setting).lower() if isinstance(setting, bool) else str(setting)}


def differing_keys(values: dict[str, str], base: dict[str, str], key: str) -> list[str]:
    """The keys on which a variant and a baseline differ: set to other values, or set by one of
    them only (an empty value is unset). The baseline's `key` and the keys under it aside: afa=off
    sets no afa.mask_ratio and is still the baseline of afa.mask_ratio=0.1; a run on 300 training
    rows is no variant of one trained on all of them."""
    return sorted(k for k in {*values, *base} if k != key and not k.startswith(f"{key}.")
                  and (values.get(k) or "") != (base.get(k) or ""))


def matching_baseline(values: dict[str, str], bases: list[dict[str, str]],
                      key: str) -> int | None:
    """The index of the one baseline that differs from `values` in nothing but `key`
    (differing_keys): afa=off beside a mask-ratio grid is the baseline of every ratio; in a
    dataset × afa grid each dataset has its own. None when there is no such baseline, or
    several."""
    agreeing = [i for i, base in enumerate(bases) if not differing_keys(values, base, key)]
    return agreeing[0] if len(agreeing) == 1 else None
