"""One sweep job as one `afa train` process, writing into <sweep>/<job name>, or continuing the
job there when it was stopped mid-training. Every executor runs its jobs through run_job, so the
sweep folder looks the same however the jobs ran."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from afa_cli.errors import UserError
from afa_cli.paths import check_folder_path
from afa_cli.runs import Run
from afa_cli.training.signals import PARENT_PID_VARIABLE
from afa_cli.sweep.state import DONE, FAILED, JobState, Outcome

INTERRUPTED_EXIT = 130  # afa train's exit code after Ctrl-C


def check_output_dir(output_dir: Path) -> None:
    """One line when job folders cannot go under output_dir: a file on its way."""
    check_folder_path(output_dir, "output_dir=")


def can_continue(job_dir: Path) -> bool:
    """A job stopped mid-training: its folder has a training state and no summary yet."""
    return Run(job_dir).resumable


def run_job(sweep_dir: Path, job: JobState, threads: int, config_dirs: list[Path],
            started: Callable[[subprocess.Popen], None] = lambda process: None) -> Outcome:
    """Run the job to its end; `started` gets its process as soon as it runs (for Ctrl-C to
    reach)."""
    job_dir = sweep_dir / job.name
    continuing = can_continue(job_dir)
    if continuing:  # the run's own config, threads included
        log_path = Run(job_dir).job_log
        command = [sys.executable, "-m", "afa_cli", "train", "--resume", str(job_dir.resolve())]
    else:
        # `afa train` creates --run-dir itself (and refuses an existing one), so the log starts
        # next to it and moves in when the job ends.
        log_path = stray_log(sweep_dir, job)
        command = [sys.executable, "-m", "afa_cli", "train", *job.overrides,
                   "--run-dir", str(job_dir.resolve())]
        if not any(o.lstrip("+").startswith("train.num_threads=") for o in job.overrides):
            command.append(f"train.num_threads={threads}")
        if not any(o.lstrip("+").startswith("logger.experiment=") for o in job.overrides):
            command.append(f"logger.experiment={sweep_dir.name}")  # a sweep is one experiment
        for folder in config_dirs:  # searched in this order, as the sweep composed the job
            command += ["--config-dir", str(folder)]
    start = time.monotonic()
    exit_code = _logged(command, log_path, "a" if continuing else "w", started)
    earlier = (job.wall_seconds or 0.0) if continuing else 0.0  # the attempt it continues
    wall_seconds = round(time.monotonic() - start + earlier, 1)
    if not continuing:
        job_dir.mkdir(exist_ok=True)
        os.replace(log_path, Run(job_dir).job_log)
    if exit_code == 0 and Run(job_dir).finished:
        return Outcome(DONE, exit_code, None, wall_seconds)
    if exit_code == INTERRUPTED_EXIT:  # its own advice (afa train --resume) does not apply here
        error = "interrupted; afa sweep --resume runs it again"
    else:
        error = _last_line(Run(job_dir).job_log) or f"exit code {exit_code}"
    return Outcome(FAILED, exit_code, error, wall_seconds)


def score_with_suite(job_dir: Path, suite: str, threads: int, config_dirs: list[Path],
                     started: Callable[[subprocess.Popen], None] = lambda process: None
                     ) -> Outcome:
    """`afa eval` of a finished job's run (its best checkpoint) with a suite, logged after its
    training in the job's log; DONE once the suite's report is written whole."""
    command = [sys.executable, "-m", "afa_cli", "eval", str(job_dir.resolve()), "--suite", suite]
    for folder in config_dirs:
        command += ["--config-dir", str(folder)]
    start = time.monotonic()
    # torch reads OMP_NUM_THREADS when it starts: the job's share of the cores, as in training
    exit_code = _logged(command, Run(job_dir).job_log, "a", started, OMP_NUM_THREADS=str(threads))
    wall_seconds = round(time.monotonic() - start, 1)
    if exit_code == 0:
        return Outcome(DONE, exit_code, None, wall_seconds)
    error = ("interrupted while scored with the suite" if exit_code == INTERRUPTED_EXIT
             else _last_line(Run(job_dir).job_log) or f"exit code {exit_code}")
    return Outcome(FAILED, exit_code, error, wall_seconds)


def _logged(command: list[str], log_path: Path, mode: str,
            started: Callable[[subprocess.Popen], None], **env: str) -> int:
    """Run an afa process into a log headed by its command line; its exit code."""
    with log_path.open(mode, encoding="utf-8") as log:
        log.write(f"$ {shlex.join(command)}\n")
        log.flush()
        # rich wraps output that is not a terminal at 80 columns; log lines read better whole
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   env=dict(os.environ, COLUMNS="200", **env,
                                            **{PARENT_PID_VARIABLE: str(os.getpid())}))
        started(process)
        return process.wait()


def stray_log(sweep_dir: Path, job: JobState) -> Path:
    """Where a job's log is while its run folder does not exist yet."""
    return sweep_dir / f"{job.name}.log"


def _last_line(path: Path) -> str:
    lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    return next((line for line in reversed(lines) if line), "")[:300]
