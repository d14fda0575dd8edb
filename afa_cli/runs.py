"""The run folder, the only code that names its files.

    <run>/config.yaml          the resolved config          overrides.yaml   what was typed
    <run>/config_dirs.yaml     --config-dir folders the config was composed with
    <run>/metrics.jsonl        one event per log / evaluation  train.log     the run's log
    <run>/summary.json         RunSummary, written when training ends
    <run>/frequent_words.json  the 100 most frequent training words (attention metrics)
    <run>/checkpoints/{best,last}/   Hugging Face folders; last/ adds training_state.pt
    <run>/eval_<dataset>_<split>[_<checkpoint>][-N].json   afa eval reports, never overwritten
    <run>/suites/<suite>[-N]/report.json   afa eval --suite, one folder per evaluation
                                           (comparison.json/.md: with several runs)
    <run>/job.log              a sweep job's output
    <run>/trackers.json        what identifies the run in each tracker it is logged to (MLflow's
                               run id and store, W&B's run id): a resume or afa log continues it

A folder is created once and never overwritten; every JSON file is swapped in atomically."""

from __future__ import annotations

import fcntl
import json
import logging
import math
import os
import pickle
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf

from afa_cli import files
from afa_cli.errors import UserError, no_room
from afa_cli.paths import check_folder_path

BEST, LAST = "best", "last"
VALIDATION, TRAIN = "validation", "train"
_HELD_LOCKS: dict[Path, int] = {}  # run folder -> the open lock file this process holds


@dataclass
class Event:
    """One line of metrics.jsonl: a training window's means or an evaluation."""

    step: int
    epoch: int
    split: str
    time: float
    metrics: dict

    @classmethod
    def from_dict(cls, payload: dict) -> "Event":
        return cls(**{f.name: payload.get(f.name) for f in fields(cls)})


@dataclass
class RunSummary:
    """summary.json: what a finished run found, and what it ran on."""

    dataset: str
    model: str | None = None
    afa_enabled: bool | None = None
    seed: int | None = None
    steps: int | None = None
    stopped_early: bool = False     # train.patience ended it before its last step
    stop_reason: str | None = None
    best: Event | None = None       # the evaluation of checkpoints/best
    final: Event | None = None      # the last evaluation
    train_seconds: float | None = None
    train_examples_per_s: float | None = None
    processes: int = 1
    device: str | None = None       # where it trained (cpu, cuda:0 (NVIDIA ...)); older runs: None
    versions: dict = field(default_factory=dict)
    git_commit: str | None = None

    @property
    def best_metrics(self) -> dict:
        return self.best.metrics if self.best else {}

    @property
    def final_metrics(self) -> dict:
        return self.final.metrics if self.final else {}

    @classmethod
    def from_dict(cls, payload: dict) -> "RunSummary":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in payload.items() if k in known}
        for key in ("best", "final"):
            if values.get(key) is not None:
                values[key] = Event.from_dict(values[key])
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)


class Run:
    """One run folder: `Run.create(cfg)` for a new run, `Run.open(path)` for an existing one."""

    CONFIG = "config.yaml"
    OVERRIDES = "overrides.yaml"
    CONFIG_DIRS = "config_dirs.yaml"
    METRICS = "metrics.jsonl"
    LOG = "train.log"
    SUMMARY = "summary.json"
    FREQUENT_WORDS = "frequent_words.json"
    CHECKPOINTS = "checkpoints"
    TRAINING_STATE = "training_state.pt"
    JOB_LOG = "job.log"
    TRACKERS = "trackers.json"
    SUITES = "suites"              # suites/<suite>[-N]/: one evaluation with a suite each
    SUITE_REPORT = "report.json"   # ... its numbers; beside it, each attack's CSV
    SUITE_COMPARISON = "comparison"  # ... and .json/.md: the runs it was compared with
    LOCK = ".lock"  # held by the process writing the run; names its pid
    # What docs/results keeps of a run: enough to label and tabulate it, no weights (and the
    # latest report of each suite it was evaluated with).
    KEPT = (CONFIG, OVERRIDES, SUMMARY)
    WRITTEN_TO = ("run_dir", "output_dir")  # config keys naming where the run was written

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # ---- creating and opening ------------------------------------------------------------------

    @classmethod
    def check_new(cls, cfg: DictConfig) -> None:
        """One line, before any work, when cfg's run folder could not be created."""
        if cfg.get("run_dir"):
            if Path(cfg.run_dir).exists():
                raise UserError(f"run_dir={cfg.run_dir} already exists; choose a new folder.")
            check_folder_path(Path(cfg.run_dir), "run_dir=")
        else:
            check_folder_path(Path(cfg.output_dir), "output_dir=")

    @classmethod
    def create(cls, cfg: DictConfig) -> "Run":
        """run_dir when set (it must not exist), else a new
        <output_dir>/<dataset>/<model>/<YYYY-MM-DD_HH-MM-SS>[_<name>]."""
        cls.check_new(cfg)
        if cfg.get("run_dir"):
            path = Path(cfg.run_dir)
            try:
                path.mkdir(parents=True, exist_ok=False)
            except FileExistsError:
                raise UserError(f"run_dir={path} already exists; choose a new folder.") from None
            return cls(path)
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
        """The resolved config the run was trained with."""
        path = self.path / self.CONFIG
        try:
            return OmegaConf.load(path)
        except yaml.YAMLError as err:
            where = getattr(err, "problem_mark", None)
            line = f" at line {where.line + 1}" if where is not None else ""
            raise UserError(f"{path} is not valid YAML ({getattr(err, 'problem', None) or err}"
                            f"{line}); fix it, or restore it from a copy.") from None

    def overrides(self) -> list[str]:
        path = self.path / self.OVERRIDES
        return list(OmegaConf.load(path)) if path.is_file() else []

    def config_dirs(self) -> list[Path]:
        """The --config-dir folders the run was composed with (its search path beyond conf/)."""
        path = self.path / self.CONFIG_DIRS
        return [Path(p) for p in OmegaConf.load(path)] if path.is_file() else []

    # ---- metrics, log, summary -----------------------------------------------------------------

    def append_event(self, step: int, epoch: int, split: str, metrics: dict) -> None:
        event = {"step": step, "epoch": epoch, "split": split, "time": time.time(),
                 "metrics": finite(metrics)}
        files.append_line(self.path / self.METRICS, json.dumps(event))

    def event_count(self) -> int:
        """Lines of metrics.jsonl so far: a checkpoint records it, so that a resume from it knows
        which events came after it."""
        path = self.path / self.METRICS
        return len(path.read_bytes().splitlines()) if path.is_file() else 0

    def set_aside_events(self, keep: int) -> Path | None:
        """A run resumed from a checkpoint repeats the steps logged after it: metrics.jsonl keeps
        its first `keep` lines and the rest (with a line a hard stop cut short) moves to
        metrics.after-<keep>.jsonl, or -2, -3, ... beside an earlier one; returns that file."""
        path = self.path / self.METRICS
        lines = path.read_bytes().splitlines(keepends=True) if path.is_file() else []
        if len(lines) <= keep:
            return None
        aside = next(candidate for n in range(1, 10_000) for candidate in
                     [self.path / f"metrics.after-{keep}{'' if n == 1 else f'-{n}'}.jsonl"]
                     if not candidate.exists())
        with files.open_new(aside, "wb") as handle:
            handle.write(b"".join(lines[keep:]))
        with files.open_new(path, "wb", replace=True) as handle:
            handle.write(b"".join(lines[:keep]))
        return aside

    def events(self, split: str | None = None) -> list[Event]:
        path = self.path / self.METRICS
        if not path.is_file():
            return []
        with path.open(encoding="utf-8") as handle:
            events = [Event.from_dict(json.loads(line)) for line in handle if line.strip()]
        return [e for e in events if split is None or e.split == split]

    def open_log(self) -> logging.Logger:
        """A logger writing to train.log (appending, so a resumed run keeps its history)."""
        logger = logging.getLogger(f"afa.run.{self.path.resolve()}")
        logger.setLevel(logging.INFO)
        logger.propagate = False
        if not logger.handlers:
            handler = _LogFile(self.path / self.LOG, encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            logger.addHandler(handler)
        return logger

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

    def write_eval_report(self, dataset: str, split: str, checkpoint: str,
                          payload: dict) -> Path:
        """eval_<dataset>_<split>.json for the best checkpoint (eval_..._<checkpoint>.json for
        another), with -2, -3, ... when an earlier evaluation holds the name: reports of
        different evaluations (other overrides, another file of the same name) never replace
        each other."""
        stem = f"eval_{dataset}_{split}" + ("" if checkpoint == BEST else f"_{checkpoint}")
        return write_new_json(self.path, stem, payload)

    def new_suite_report(self, suite: str, payload: dict) -> Path:
        """suites/<suite>/ for the first evaluation with a suite, suites/<suite>-2/, -3, ...
        for later ones, created here (two evaluations at once get two folders) with its first
        report.json: both or neither, so that a report that cannot be written (a full disk)
        leaves no empty folder behind."""
        parent = self.path / self.SUITES
        created: list[Path] = []
        try:
            created = files.make_folders(parent)
            for attempt in range(1, 10_000):
                folder = parent / (suite if attempt == 1 else f"{suite}-{attempt}")
                try:
                    folder.mkdir()
                    break
                except FileExistsError:
                    continue
            else:
                raise UserError(f"{parent} holds 10,000 evaluations with suite {suite}; move "
                                "some away.")
            created.insert(0, folder)
            write_json(folder / self.SUITE_REPORT, payload)
        except BaseException as err:
            files.remove_folders(created)
            if (failure := files.room_error(parent, err)) is not None:
                raise failure from None
            raise
        return folder

    @classmethod
    def suite_report(cls, folder: Path) -> dict | None:
        """A suite folder's report.json; None when there is none (or it is not JSON)."""
        try:
            return json.loads((Path(folder) / cls.SUITE_REPORT).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def keep(self, target: Path) -> None:
        """Copy the files docs/results keeps of a run into target. The folders the run was
        written to (run_dir, output_dir) are kept relative to the run folder: kept results are
        committed, and one machine's absolute paths mean nothing on another."""
        target.mkdir(parents=True, exist_ok=True)
        cfg = self.config()
        here = Path(cfg.get("run_dir") or self.path.resolve())
        for key in self.WRITTEN_TO:
            if cfg.get(key) and Path(cfg[key]).is_absolute():
                cfg[key] = os.path.relpath(cfg[key], here)
        OmegaConf.save(cfg, target / self.CONFIG)
        OmegaConf.save(OmegaConf.create([_relative_override(o, here) for o in self.overrides()]),
                       target / self.OVERRIDES)
        write_json(target / self.SUMMARY, self.summary().to_dict())
        for suite, report in self.suite_reports().items():
            payload = json.loads(report.read_text(encoding="utf-8"))
            for key in ("run", "checkpoint"):  # where it was scored, relative as above
                if payload.get(key) and Path(payload[key]).is_absolute():
                    payload[key] = os.path.relpath(payload[key], here)
            (target / self.SUITES / suite).mkdir(parents=True, exist_ok=True)
            write_json(target / self.SUITES / suite / self.SUITE_REPORT, payload)

    def suite_reports(self) -> dict[str, Path]:
        """The latest complete report of each suite the run was evaluated with
        (suites/<suite>[-N]/); one an interrupted evaluation left ("complete": false) is not."""
        reports: dict[str, tuple[int, Path]] = {}
        for report in (self.path / self.SUITES).glob(f"*/{self.SUITE_REPORT}"):
            if (self.suite_report(report.parent) or {}).get("complete") is False:
                continue
            suite, _, number = report.parent.name.rpartition("-")
            suite, order = (suite, int(number)) if number.isdigit() and suite else \
                (report.parent.name, 1)
            if order >= reports.get(suite, (0, report))[0]:
                reports[suite] = (order, report)
        return {suite: path for suite, (_, path) in sorted(reports.items())}

    # ---- who writes the run --------------------------------------------------------------------

    def lock(self) -> None:
        """Mark the run as written by this process until release_locks() or the process's end,
        however it ends (the operating system drops the lock of a dead process, so a stale lock
        is simply taken over). A run another live process writes is a UserError naming it."""
        handle = os.open(self.path / self.LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 64, 0).decode(errors="replace").strip()
            os.close(handle)
            raise UserError(f"{self.path} is being written by process {holder or '?'}; wait for "
                            f"it to end or stop it (kill {holder or 'PID'}) first.") from None
        os.ftruncate(handle, 0)
        os.pwrite(handle, f"{os.getpid()}\n".encode(), 0)
        _HELD_LOCKS[self.path.resolve()] = handle

    def unlock(self) -> None:
        """Release this run's lock, when this process holds it."""
        handle = _HELD_LOCKS.pop(self.path.resolve(), None)
        if handle is not None:
            os.close(handle)

    def writer(self) -> int | None:
        """The pid of the live process writing the run, None when no process does."""
        path = self.path / self.LOCK
        if not path.is_file() or self.path.resolve() in _HELD_LOCKS:
            return None
        handle = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return None
        except BlockingIOError:
            return int(os.pread(handle, 64, 0).decode().strip() or 0) or None
        finally:
            os.close(handle)

    # ---- checkpoints ---------------------------------------------------------------------------

    def checkpoint(self, which: str) -> Path:
        return self.path / self.CHECKPOINTS / which

    def save_checkpoint(self, which: str, model, tokenizer, state: dict | None = None) -> Path:
        """Write a Hugging Face folder (plus the training state) and swap it in atomically."""
        target = self.checkpoint(which)
        tmp = target.with_name(f".{which}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            model.save_pretrained(tmp, safe_serialization=True)
            if not (tmp / "config.json").is_file():
                # A LoRA model saves only its adapter; the config (labels, layers) rebuilds the rest.
                model.config.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            if state is not None:
                files.torch_save(state, tmp / self.TRAINING_STATE)
        except BaseException as err:
            shutil.rmtree(tmp, ignore_errors=True)  # a failed save (a full disk) leaves nothing
            if why := no_room(err):
                then = (f"continue with afa train --resume {self.path}" if self.resumable
                        else "train again")
                raise UserError(f"Cannot save {target}: {why}. Free some space, then {then}.") from None
            raise
        old = target.with_name(f".{which}.old")
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
        return target

    @property
    def resumable(self) -> bool:
        """Stopped mid-training: a training state to continue from, and no summary yet."""
        return (self.checkpoint(LAST) / self.TRAINING_STATE).is_file() and not self.finished

    def training_state(self) -> dict:
        path = self.checkpoint(LAST) / self.TRAINING_STATE
        if not path.is_file():
            raise UserError(f"{self.path} has no {LAST} checkpoint with a training state to "
                            "resume from.")
        try:
            return _torch().load(path, weights_only=False)
        except (RuntimeError, EOFError, pickle.UnpicklingError, ValueError) as err:
            raise UserError(f"{path} is damaged ({str(err).split('. ')[0]}); the run cannot "
                            f"continue from it. Its best weights are in {self.CHECKPOINTS}/{BEST}; "
                            "train a new run to go on.") from None


class _LogFile(logging.FileHandler):
    """train.log: a line that cannot be written for want of room stops the command with one line
    naming the file, instead of logging's traceback on stderr and a training that goes on."""

    def handleError(self, record: logging.LogRecord) -> None:
        if (failure := files.room_error(self.baseFilename, sys.exc_info()[1])) is not None:
            raise failure from None
        super().handleError(record)


def _torch():
    """torch, imported when a training state is read or written: the commands that only read a
    run's config (afa train --cfg, every config error) start 2 s sooner without it."""
    import torch

    return torch


def _relative_override(override: str, here: Path) -> str:
    """run_dir=/abs/run as run_dir=. (and output_dir relative to the run): see Run.keep."""
    key, _, value = override.partition("=")
    path = Path(value.strip("'\""))
    if key.lstrip("+") in Run.WRITTEN_TO and path.is_absolute():
        return f"{key}={os.path.relpath(path, here)}"
    return override


def release_locks() -> None:
    """Release every run lock this process holds."""
    while _HELD_LOCKS:
        os.close(_HELD_LOCKS.popitem()[1])


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


def silent_log() -> logging.Logger:
    """The logger of a process that writes no log (every data-parallel rank but 0)."""
    logger = logging.getLogger("afa.run.silent")
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    return logger


def finite(value):
    """JSON has no NaN: undefined metrics are written as null."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, payload: dict, exclusive: bool = False, then: str = files.AGAIN) -> None:
    """Written whole or not at all (see files.new_file); `exclusive`: never over an existing
    file."""
    files.write_text(path, _json_text(payload), replace=not exclusive, then=then)


def write_new_json(folder: Path, stem: str, payload: dict) -> Path:
    """folder/<stem>.json, or <stem>-2.json, -3, ... whichever does not exist yet, written whole
    or not at all; two writers at once get two names."""
    return files.write_numbered(folder, stem, ".json", _json_text(payload))


def _json_text(payload: dict) -> str:
    return json.dumps(finite(payload), indent=2) + "\n"


def environment() -> dict:
    """Package versions and git commit, for summary.json."""
    versions = {}
    for package in ("afa", "torch", "transformers", "datasets", "hydra-core"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"versions": versions, "git_commit": commit}
