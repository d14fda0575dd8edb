"""A sweep folder's sweep.yaml: how the sweep was asked for, and where each of its jobs stands.

SweepState is the only code that reads or writes sweep.yaml. Its jobs are changed by the threads
that run them, so every change goes through a method that holds the state's lock and writes the
whole file again (atomically: a reader never sees half a file). It reads the layout of every
earlier sweep, so `afa sweep --resume` continues sweeps made by earlier versions."""

from __future__ import annotations

import os
import threading
from dataclasses import InitVar, asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path

import yaml

from afa_cli import files
from afa_cli.errors import UserError
from afa_cli.sweep.config_dirs import kept, kept_in, resolved

DONE, FAILED, PENDING, RUNNING = "done", "failed", "pending", "running"


@dataclass
class Outcome:
    """How one attempt at a job ended."""

    status: str                  # DONE or FAILED
    exit_code: int | None        # None: the job's process never reported one
    error: str | None            # one line, None when done
    wall_seconds: float | None   # the job's whole time, an attempt it continues included


@dataclass
class JobState:
    name: str                    # its folder inside the sweep folder
    overrides: list[str]         # what `afa train` gets, besides --run-dir and train.num_threads
    values: dict[str, str]       # swept key -> value
    status: str = PENDING
    attempts: int = 0
    exit_code: int | None = None
    error: str | None = None
    wall_seconds: float | None = None

    @classmethod
    def from_dict(cls, payload: dict) -> "JobState":
        return cls(**{f.name: payload[f.name] for f in fields(cls) if f.name in payload})


@dataclass(kw_only=True)
class SweepState:
    """sweep.yaml, field by field in the order the file lists them."""

    folder: InitVar[Path]        # the sweep folder; not saved, so that the folder may move
    command: str                 # the afa sweep command line as typed
    created: str | None = None
    # the --config-dir folders, relative to the sweep folder (absolute in older sweeps)
    config_dirs: list[str] = field(default_factory=list)
    preset: str | None = None
    launcher: list[str] = field(default_factory=list)  # Hydra launcher overrides; none = local
    grids: list[str] = field(default_factory=list)
    swept_keys: list[str]
    pid: int | None = None       # the process running the sweep, while one does
    jobs: list[JobState]

    FILE = "sweep.yaml"

    def __post_init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._lock = threading.RLock()  # re-entered: a change holds it while it saves

    # ---- creating, reading, writing ------------------------------------------------------------

    @classmethod
    def create(cls, folder: Path, *, command: str, config_dirs: list[Path], preset: str | None,
               launcher: list[str], grids: list[str], swept_keys: list[str],
               jobs: list[JobState]) -> "SweepState":
        """A new sweep's state, written into its (new) folder."""
        state = cls(folder=folder, command=command,
                    created=datetime.now().isoformat(timespec="seconds"),
                    config_dirs=kept(folder, config_dirs), preset=preset, launcher=launcher,
                    grids=grids, swept_keys=swept_keys, jobs=jobs)
        state.save()
        return state

    @classmethod
    def is_sweep(cls, folder: Path) -> bool:
        return (Path(folder) / cls.FILE).is_file()

    @classmethod
    def read(cls, folder: Path) -> "SweepState":
        if not cls.is_sweep(folder):
            raise UserError(f"{folder} is not a sweep folder (no {cls.FILE}).")
        return cls.from_dict(folder, yaml.safe_load((Path(folder) / cls.FILE).read_text(
            encoding="utf-8")))

    @classmethod
    def from_dict(cls, folder: Path, payload: dict) -> "SweepState":
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in payload.items() if key in known}
        values["config_dirs"] = kept_in(payload)
        values["jobs"] = [JobState.from_dict(job) for job in payload["jobs"]]
        return cls(folder=folder, **values)

    def to_dict(self) -> dict:
        with self._lock:
            return asdict(self)

    def save(self) -> None:
        with self._lock:  # written whole: a reader never sees half a file
            files.write_text(self.folder / self.FILE, yaml.safe_dump(
                self.to_dict(), sort_keys=False, allow_unicode=True), replace=True,
                then=f"continue with afa sweep --resume {self.folder}")

    # ---- changes, each written at once ---------------------------------------------------------

    def live_pid(self) -> int | None:
        """The process running this sweep now, if one is (sweep.yaml's pid, and alive)."""
        if self.pid is None:
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:  # alive, and another user's
            pass
        return self.pid

    def set_pid(self, pid: int | None) -> None:
        with self._lock:
            self.pid = pid
            self.save()

    def start_attempt(self, job: JobState) -> None:
        with self._lock:
            job.status = RUNNING
            job.attempts += 1
            self.save()

    def record(self, job: JobState, outcome: Outcome) -> None:
        with self._lock:
            job.status, job.exit_code = outcome.status, outcome.exit_code
            job.error, job.wall_seconds = outcome.error, outcome.wall_seconds
            self.save()

    def requeue(self, job: JobState) -> None:
        with self._lock:
            job.status = PENDING
            self.save()

    # ---- reading -------------------------------------------------------------------------------

    @property
    def config_paths(self) -> list[Path]:
        """The --config-dir folders, wherever the sweep is run from."""
        return resolved(self.folder, self.config_dirs)

    def unfinished(self) -> list[JobState]:
        return [job for job in self.jobs if job.status != DONE]

    def job_dir(self, job: JobState) -> Path:
        return self.folder / job.name
