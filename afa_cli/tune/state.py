"""A tune folder's tune.yaml: how the search was set up, so that --resume continues the same one.
Written when the search starts (and again when a resume changes --trials); where each trial
stands is the study's (study.db, or the --storage of a search workers share), not this file's."""

from __future__ import annotations

import os
from dataclasses import InitVar, asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path

import yaml

from afa_cli.errors import UserError
from afa_cli.sweep.config_dirs import kept, kept_in, resolved
from afa_cli.tune.space import Param, ParamSpec, override


@dataclass(kw_only=True)
class TuneState:
    """tune.yaml, field by field in the order the file lists them."""

    folder: InitVar[Path]          # the tune folder; not saved, so that the folder may move
    command: str                   # the afa tune command line as typed
    created: str | None = None
    config_dirs: list[str] = field(default_factory=list)  # relative to the tune folder
    preset: str                    # the search space's name (+tune=NAME)
    overrides: list[str]           # every trial's fixed overrides
    space: dict[str, dict]         # config key -> distribution, as the preset wrote it
    objectives: list[str]          # metric keys
    pruner: dict | None            # {startup_trials, warmup_steps} of the median pruner; None: off
    sampler_seed: int | None = None
    trials: int                    # the search ends when the study holds this many
    storage: str | None = None     # --storage: where the study is, shared by workers; None: here
    study_name: str | None = None  # its name there (--name, else the preset's)

    FILE = "tune.yaml"

    def __post_init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @classmethod
    def create(cls, folder: Path, config_dirs: list[Path], **values) -> "TuneState":
        state = cls(folder=folder, created=datetime.now().isoformat(timespec="seconds"),
                    config_dirs=kept(folder, config_dirs), **values)
        state.save()
        return state

    @classmethod
    def is_tune(cls, folder: Path) -> bool:
        return (Path(folder) / cls.FILE).is_file()

    @classmethod
    def read(cls, folder: Path) -> "TuneState":
        if not cls.is_tune(folder):
            raise UserError(f"{folder} is not a tune folder (no {cls.FILE}).")
        payload = yaml.safe_load((Path(folder) / cls.FILE).read_text(encoding="utf-8"))
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in payload.items() if key in known}
        values["config_dirs"] = kept_in(payload)
        return cls(folder=folder, **values)

    def save(self) -> None:
        path = self.folder / self.FILE
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(yaml.safe_dump(asdict(self), sort_keys=False, allow_unicode=True),
                       encoding="utf-8")
        os.replace(tmp, path)  # a reader never sees half a file

    def set_trials(self, trials: int) -> None:
        self.trials = trials
        self.save()

    def trial_overrides(self, params: dict) -> list[str]:
        """A trial's overrides: every trial's fixed ones, then its sampled values."""
        return [*self.overrides, *(override(k, v) for k, v in params.items())]

    @property
    def config_paths(self) -> list[Path]:
        """The --config-dir folders, wherever the search is run from."""
        return resolved(self.folder, self.config_dirs)

    @property
    def params(self) -> list[Param]:
        return [Param(key, ParamSpec.read(spec)) for key, spec in self.space.items()]
