"""Run, the owner of a run folder: creating and opening it, its config, summary and small files;
the parts of Run mixed in from their own modules name and handle the rest (metrics.jsonl,
train.log, eval and suite reports, checkpoints, the writer's lock)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from afa_cli import files
from afa_cli.config.schema import on_schema
from afa_cli.errors import UserError
from afa_cli.paths import check_folder_path
from afa_cli.runs.checkpoints import BEST, Checkpoints
from afa_cli.runs.events import MetricsEvents
from afa_cli.runs.json_files import write_json
from afa_cli.runs.locks import WriterLock
from afa_cli.runs.log import TrainLog
from afa_cli.runs.records import RunSummary
from afa_cli.runs.reports import EvaluationReports


class Run(MetricsEvents, TrainLog, EvaluationReports, Checkpoints, WriterLock):
    """One run folder: `Run.create(cfg, folder)` for a new run, `Run.open(path)` for an existing
    one."""

    CONFIG = "config.yaml"
    OVERRIDES = "overrides.yaml"
    CONFIG_DIRS = "config_dirs.yaml"
    SUMMARY = "summary.json"
    FREQUENT_WORDS = "frequent_words.json"
    JOB_LOG = "job.log"
    TRACKERS = "trackers.json"
    LEGACY_RUN_DIR = "run_dir="  # see overrides()

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # ---- creating and opening ------------------------------------------------------------------

    @classmethod
    def check_new(cls, cfg: DictConfig, folder: Path | None = None) -> None:
        """One line, before any work, when the new run's folder could not be created: `folder`
        (afa train --run-dir) or one under cfg's output_dir."""
        if folder is not None:
            if folder.exists():
                raise UserError(f"--run-dir {folder} already exists; choose a new folder.")
            check_folder_path(folder, "--run-dir")
        else:
            check_folder_path(Path(cfg.output_dir), "output_dir=")

    @classmethod
    def create(cls, cfg: DictConfig, folder: Path | None = None) -> "Run":
        """`folder` when given (it must not exist), else a new
        <output_dir>/<dataset>/<model>/<YYYY-MM-DD_HH-MM-SS>[_<name>]."""
        cls.check_new(cfg, folder)
        if folder is not None:
            try:
                folder.mkdir(parents=True, exist_ok=False)
            except FileExistsError:
                raise UserError(f"--run-dir {folder} already exists; choose a new folder.") from None
            return cls(folder)
        return cls(new_timestamped_dir(Path(cfg.output_dir) / cfg.dataset.name / cfg.model.name,
                                       cfg.name))

    @classmethod
    def is_run(cls, path: str | Path) -> bool:
        return (Path(path) / cls.CONFIG).is_file()

    @classmethod
    def open(cls, path: str | Path) -> "Run":
        if not cls.is_run(path):
            raise UserError(f"{path} has no {cls.CONFIG}: is it an afa run folder?")
        return cls(path)

    # ---- how the run was configured ------------------------------------------------------------

    def write_config(self, cfg: DictConfig, overrides: list[str],
                     config_dirs: list[Path] = ()) -> None:
        files.write_text(self.path / self.CONFIG, OmegaConf.to_yaml(cfg, resolve=True),
                         replace=True)
        files.write_text(self.path / self.OVERRIDES,
                         OmegaConf.to_yaml(OmegaConf.create(list(overrides))), replace=True)
        if config_dirs:
            files.write_text(self.path / self.CONFIG_DIRS, OmegaConf.to_yaml(
                OmegaConf.create([str(Path(d).resolve()) for d in config_dirs])), replace=True)

    def config(self) -> DictConfig:
        """The resolved config the run was trained with, on today's schema: what every command
        that reads the run works from."""
        try:
            return on_schema(self.saved_config())
        except OmegaConfBaseException as err:
            raise UserError(f"{self.path / self.CONFIG}: {str(err).splitlines()[0]}; fix it, or "
                            "restore it from a copy.") from None

    def saved_config(self) -> DictConfig:
        """config.yaml as written when the run was made, the keys added since absent: what a
        report of how the run was made shows, and what a copy of the run keeps."""
        path = self.path / self.CONFIG
        try:
            return OmegaConf.load(path)
        except yaml.YAMLError as err:
            where = getattr(err, "problem_mark", None)
            line = f" at line {where.line + 1}" if where is not None else ""
            raise UserError(f"{path} is not valid YAML ({getattr(err, 'problem', None) or err}"
                            f"{line}); fix it, or restore it from a copy.") from None

    def overrides(self) -> list[str]:
        """What was typed after `afa train`. Runs made before --run-dir named their folder as a
        run_dir= override: where the run was written, not how it was made, so it is left out."""
        path = self.path / self.OVERRIDES
        typed = list(OmegaConf.load(path)) if path.is_file() else []
        return [o for o in typed if not o.lstrip("+").startswith(self.LEGACY_RUN_DIR)]

    def config_dirs(self) -> list[Path]:
        """The --config-dir folders the run was composed with (its search path beyond conf/)."""
        path = self.path / self.CONFIG_DIRS
        return [Path(p) for p in OmegaConf.load(path)] if path.is_file() else []

    # ---- what it found, and what else it wrote -------------------------------------------------

    def write_summary(self, summary: RunSummary) -> None:
        write_json(self.path / self.SUMMARY, summary.to_dict())

    @property
    def finished(self) -> bool:
        return (self.path / self.SUMMARY).is_file()

    def summary(self) -> RunSummary | None:
        path = self.path / self.SUMMARY
        if not path.is_file():
            return None
        return RunSummary.from_dict(json.loads(path.read_text(encoding="utf-8")))

    def write_frequent_words(self, words: list[str]) -> None:
        write_json(self.path / self.FREQUENT_WORDS, {"words": words})

    def frequent_words(self) -> list[str] | None:
        path = self.path / self.FREQUENT_WORDS
        return json.loads(path.read_text(encoding="utf-8"))["words"] if path.is_file() else None

    def trackers(self) -> dict[str, dict]:
        """tracker name -> what identifies the run in it; {} for a run logged to none."""
        path = self.path / self.TRACKERS
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def write_tracker(self, name: str, ids: dict) -> None:
        write_json(self.path / self.TRACKERS, {**self.trackers(), name: ids})

    @property
    def job_log(self) -> Path:
        return self.path / self.JOB_LOG


def resolve(path: str | Path) -> tuple[Path, Run | None]:
    """(checkpoint folder, its run or None) for a run folder (its best checkpoint) or a
    checkpoint folder."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"Checkpoint {path} does not exist.")
    if (path / "config.json").is_file():
        parent = path.parent.parent if path.parent.name == Run.CHECKPOINTS else None
        return path, Run(parent) if parent is not None and Run.is_run(parent) else None
    run = Run(path)
    if (run.checkpoint(BEST) / "config.json").is_file():
        return run.checkpoint(BEST), run
    raise UserError(f"{path} is neither a checkpoint folder nor a run folder with "
                    f"{Run.CHECKPOINTS}/{BEST}.")


def new_timestamped_dir(parent: Path, name: str | None) -> Path:
    """parent/<YYYY-MM-DD_HH-MM-SS>[_<name>], created now; never an existing folder."""
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    base = f"{stamp}_{name}" if name else stamp
    parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1000):
        folder = parent / (base if attempt == 0 else f"{base}-{attempt}")
        try:
            folder.mkdir(exist_ok=False)  # atomic: two runs started at once get two folders
            return folder
        except FileExistsError:
            continue
    raise UserError(f"Could not create a new folder under {parent}.")
