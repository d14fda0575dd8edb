"""Suites: named lists of probes read from conf/suite/<name>.yaml (or a user's --config-dir
folder's suite/), typed and checked like run configs. A suite may include other suites."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from importlib.resources import files
from pathlib import Path
from typing import Optional

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from afa_cli.errors import UserError
from afa_cli.evaluation.kinds import kind_names

SUITE_FOLDER = "suite"


class Perturbation(StrEnum):
    characters = "characters"   # DeepWordBug-style character edits
    deletion = "deletion"       # word deletion
    synonyms = "synonyms"       # PWWS-style WordNet synonym swaps (needs NLTK's WordNet)


@dataclass
class ProbeConfig:
    name: str
    kind: str = "scores"                 # a module of afa_cli/evaluation/kinds
    dataset: Optional[str] = None        # null: the run's own dataset
    split: str = "validation"
    limit: Optional[int] = None          # a seeded sample of this many rows (pairs: 2 per pair)
    max_length: Optional[int] = None     # tokens per text; null: the run's model.max_length
    perturbation: Perturbation = Perturbation.characters
    max_edit_fraction: float = 0.2       # attack budget: edited words per input
    seed: int = 0                        # attack edits and the random ranking

    def out_of_range(self) -> str | None:
        """What is wrong with a value the types allow, if anything."""
        if self.kind not in kind_names():
            return f"kind: {self.kind} is not a probe kind; choose {', '.join(kind_names())}"
        for key in ("limit", "max_length"):
            value = getattr(self, key)
            if value is not None and value < 1:
                return f"{key}: {value} must be at least 1 (or null: every row, the run's length)"
        if not 0 < self.max_edit_fraction <= 1:
            return f"max_edit_fraction: {self.max_edit_fraction} must be in (0, 1]"
        return None


@dataclass
class SuiteConfig:
    description: str = ""
    include: list[str] = field(default_factory=list)
    probes: list[ProbeConfig] = field(default_factory=list)


@dataclass
class Suite:
    name: str
    description: str
    probes: list[ProbeConfig]


def suite_names(config_dirs: list[Path] = ()) -> list[str]:
    names = {p.stem for folder in _folders(config_dirs) for p in folder.glob("*.yaml")}
    return sorted(names)


def load_suite(name: str, config_dirs: list[Path] = (), including: tuple[str, ...] = ()) -> Suite:
    """The suite with its included suites' probes first, each probe name once; `including`:
    the suites whose include lists led here."""
    config = _read(name, config_dirs)
    probes: list[ProbeConfig] = []
    for included in config.include:
        if included in (*including, name):
            chain = " -> ".join((*including, name, included))
            raise UserError(f"suite {included} includes itself ({chain}); remove it from an "
                            "include list.")
        probes += load_suite(included, config_dirs, (*including, name)).probes
    probes += list(config.probes)
    names = [p.name for p in probes]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UserError(f"suite {name}: probe name {repeated[0]} appears twice; probe names "
                        "must be unique.")
    if not probes:
        raise UserError(f"suite {name} has no probes; add a probes: list.")
    return Suite(name, config.description, probes)


def _folders(config_dirs: list[Path]) -> list[Path]:
    """Where suites are looked up: the user's folders first, then afa's own."""
    own = Path(str(files("afa_cli.conf"))) / SUITE_FOLDER
    return [*(Path(d) / SUITE_FOLDER for d in config_dirs), own]


def _read(name: str, config_dirs: list[Path]) -> SuiteConfig:
    path = next((f / f"{name}.yaml" for f in _folders(config_dirs)
                 if (f / f"{name}.yaml").is_file()), None)
    if path is None:
        raise UserError(f"--suite {name}: no such suite; the suites are "
                        f"{', '.join(suite_names(config_dirs))} (or add suite/{name}.yaml to a "
                        "--config-dir folder).")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        config = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(SuiteConfig), raw))
    except (yaml.YAMLError, OmegaConfBaseException) as err:
        reason = str(err).splitlines()[0]
        raise UserError(f"{path}: {reason}; see the suites in afa's conf/suite/ for the "
                        "form.") from None
    for probe in config.probes:
        if (wrong := probe.out_of_range()) is not None:
            raise UserError(f"{path}: probe {probe.name}, {wrong}.")
    return config
