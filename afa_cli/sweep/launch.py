"""Running a sweep: the sweep folder and its sweep.yaml, one `afa train` process per job, N at a
time, and resuming a sweep that stopped."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime
from pathlib import Path

import yaml
from rich.console import Console
from rich.markup import escape

from afa_cli.distributed import available_cores
from afa_cli.errors import UserError
from afa_cli.runs import Run, new_timestamped_dir
from afa_cli.sweep import hydra_launch
from afa_cli.sweep.grid import check_jobs, plan_sweep

STATE_FILE = "sweep.yaml"
PREVIOUS_ATTEMPTS = "previous_attempts"
DONE, FAILED, PENDING, RUNNING = "done", "failed", "pending", "running"
INTERRUPTED_EXIT = 130  # afa train's exit code after Ctrl-C


class SweepInterrupted(Exception):
    """Ctrl-C: running jobs were asked to stop (each saves its last checkpoint)."""


def read_state(sweep_dir: Path) -> dict:
    path = Path(sweep_dir) / STATE_FILE
    if not path.is_file():
        raise UserError(f"{sweep_dir} is not a sweep folder (no {STATE_FILE}).")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def write_state(sweep_dir: Path, state: dict) -> None:
    path = sweep_dir / STATE_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(yaml.safe_dump(state, sort_keys=False, allow_unicode=True), encoding="utf-8")
    os.replace(tmp, path)  # a reader never sees half a file


def start_sweep(args: list[str], parallel: int, name: str | None, config_dir: Path | None,
                console: Console) -> Path:
    """Plan and check every job, create the sweep folder, run the jobs; returns the folder."""
    if name is not None and not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise UserError(f"--name {name!r}: use letters, digits, '.', '_' and '-'.")
    launcher = [a for a in args if hydra_launch.is_launcher_override(a)]
    other_hydra = [a for a in args if a.lstrip("+~").startswith("hydra") and a not in launcher]
    if other_hydra:
        raise UserError(f"{other_hydra[0]}: afa sweep takes only hydra/launcher=NAME and "
                        "hydra.launcher.KEY=VALUE from Hydra's own settings.")
    if launcher:
        hydra_launch.check(launcher)
    plan = plan_sweep([a for a in args if a not in launcher], config_dir)
    output_dir = check_jobs(plan.jobs, config_dir)
    if "'" in str(output_dir.resolve()):
        raise UserError(f"output_dir={output_dir}: a path with a quote (') cannot be passed on; "
                        "choose another output_dir.")
    sweep_dir = new_timestamped_dir(output_dir / "sweeps", name or plan.preset)
    options = [f"--jobs {parallel}"] + ([f"--name {name}"] if name else []) + (
        [f"--config-dir {config_dir}"] if config_dir else [])
    state = {
        "command": " ".join(["afa sweep", shlex.join(args), *options]),
        "created": datetime.now().isoformat(timespec="seconds"),
        "config_dir": str(Path(config_dir).resolve()) if config_dir else None,
        "preset": plan.preset,
        "launcher": launcher,  # Hydra launcher overrides; none = local processes
        "grids": [shlex.join(grid) for grid in plan.grids],
        "swept_keys": plan.swept_keys,
        "pid": None,
        "jobs": [{"name": job.name, "overrides": job.overrides,
                  "values": {key: job.values[key] for key in plan.swept_keys if key in job.values},
                  "status": PENDING, "attempts": 0, "exit_code": None, "error": None,
                  "wall_seconds": None} for job in plan.jobs],
    }
    write_state(sweep_dir, state)
    console.print(f"sweep folder: {sweep_dir} ({len(plan.jobs)} jobs)")
    run_unfinished(sweep_dir, state, parallel, console)
    return sweep_dir


def resume_sweep(sweep_dir: Path, parallel: int, console: Console) -> Path:
    """Finish every job that is not done: a stopped one continues from its checkpoints/last
    (afa train --resume); any other starts again after its earlier folder is moved aside."""
    state = read_state(sweep_dir)
    if state.get("pid") and _alive(state["pid"]):
        raise UserError(f"{sweep_dir} is still being run by process {state['pid']}; "
                        "wait for it or stop it before resuming.")
    unfinished = [job for job in state["jobs"] if job["status"] != DONE]
    console.print(f"sweep folder: {sweep_dir} ({len(state['jobs']) - len(unfinished)} done, "
                  f"{len(unfinished)} to run)")
    for job in unfinished:
        if not can_continue(sweep_dir / job["name"]):
            _move_aside(sweep_dir, job)
        job["status"] = PENDING
    run_unfinished(sweep_dir, state, parallel, console)
    return sweep_dir


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, and another user's
        pass
    return True


def can_continue(job_dir: Path) -> bool:
    """A job stopped mid-training: its folder has a training state and no summary yet."""
    return Run(job_dir).resumable


def _move_aside(sweep_dir: Path, job: dict) -> None:
    """A job's earlier attempt goes to previous_attempts/, so a re-run starts in a new folder."""
    job_dir, stray_log = sweep_dir / job["name"], sweep_dir / f"{job['name']}.log"
    if not job_dir.exists() and not stray_log.exists():
        return
    aside = sweep_dir / PREVIOUS_ATTEMPTS / f"{job['name']}-attempt{job['attempts']}"
    aside.parent.mkdir(exist_ok=True)
    if job_dir.exists():
        os.replace(job_dir, aside)
    else:
        aside.mkdir()
    if stray_log.exists():
        os.replace(stray_log, Run(aside).job_log)


def run_unfinished(sweep_dir: Path, state: dict, parallel: int, console: Console) -> None:
    """Run the jobs not done yet, `parallel` at a time; sweep.yaml follows every change."""
    todo = [job for job in state["jobs"] if job["status"] != DONE]
    if state.get("launcher"):
        run_with_launcher(sweep_dir, state, todo, parallel, console)
        return
    threads = max(1, available_cores() // parallel)
    lock, stop = threading.Lock(), threading.Event()
    processes: dict[str, subprocess.Popen] = {}
    finished = 0

    def update(job: dict | None = None, **changes) -> None:
        with lock:
            (job if job is not None else state).update(changes)
            write_state(sweep_dir, state)

    def run_one(job: dict) -> None:
        nonlocal finished
        if stop.is_set():
            return
        update(job, status=RUNNING, attempts=job["attempts"] + 1)
        console.print(f"started {job['name']}", highlight=False)
        update(job, **run_job(sweep_dir, job, threads, state["config_dir"], processes))
        with lock:
            finished += 1
            console.print(f"[{finished}/{len(todo)}] {job['name']} {outcome_text(job)}",
                          highlight=False)

    update(pid=os.getpid())
    previous_handler = signal.signal(signal.SIGTERM, _stop_like_ctrl_c)
    try:
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            futures = [pool.submit(run_one, job) for job in todo]
            try:
                for future in as_completed(futures):
                    future.result()
            except KeyboardInterrupt:
                stop.set()
                for process in list(processes.values()):
                    if process.poll() is None:
                        process.send_signal(signal.SIGINT)
                raise SweepInterrupted(f"Interrupted; finish the sweep with: "
                                       f"afa sweep --resume {sweep_dir}") from None
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        update(pid=None)


def run_with_launcher(sweep_dir: Path, state: dict, todo: list[dict], parallel: int,
                      console: Console) -> None:
    """The jobs go to the Hydra launcher all at once; it returns when they have all ended."""
    for job in todo:
        job.update(status=RUNNING, attempts=job["attempts"] + 1)
    state["pid"] = os.getpid()
    write_state(sweep_dir, state)
    console.print(f"launching {len(todo)} jobs: {' '.join(state['launcher'])}", highlight=False)
    try:
        outcomes = hydra_launch.launch(sweep_dir, todo, state["launcher"], parallel,
                                       state["config_dir"])
        for job, outcome in zip(todo, outcomes):
            job.update(outcome if isinstance(outcome, dict) else
                       {"status": FAILED, "exit_code": None, "error": outcome, "wall_seconds": None})
            console.print(f"{job['name']} {outcome_text(job)}", highlight=False)
    finally:
        state["pid"] = None
        write_state(sweep_dir, state)


def outcome_text(job: dict) -> str:
    return (f"[green]done[/green] in {job['wall_seconds']:.0f} s" if job["status"] == DONE
            else f"[red]failed[/red]: {escape(job['error'])}")


def _stop_like_ctrl_c(signum, frame):
    """`kill` stops a sweep as Ctrl-C does: the jobs are told to stop, none is left orphaned."""
    raise KeyboardInterrupt


def run_job(sweep_dir: Path, job: dict, threads: int, config_dir: str | None,
            processes: dict[str, subprocess.Popen]) -> dict:
    """One `afa train` process writing into <sweep>/<job name> (or continuing the job there);
    its status, exit code, error line and wall time."""
    job_dir = sweep_dir / job["name"]
    continuing = can_continue(job_dir)
    if continuing:  # the run's own config, threads included
        log_path = Run(job_dir).job_log
        command = [sys.executable, "-m", "afa_cli", "train", "--resume", str(job_dir.resolve())]
    else:
        # `afa train` creates run_dir itself (and refuses an existing one), so the log starts
        # next to it and moves in when the job ends.
        log_path = sweep_dir / f"{job['name']}.log"
        command = [sys.executable, "-m", "afa_cli", "train", *job["overrides"],
                   f"run_dir='{job_dir.resolve()}'"]
        if not any(o.lstrip("+").startswith("train.num_threads=") for o in job["overrides"]):
            command.append(f"train.num_threads={threads}")
        if config_dir:
            command += ["--config-dir", config_dir]
    start = time.monotonic()
    with log_path.open("a" if continuing else "w", encoding="utf-8") as log:
        log.write(f"$ {shlex.join(command)}\n")
        log.flush()
        # rich wraps output that is not a terminal at 80 columns; log lines read better whole
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   env=dict(os.environ, COLUMNS="200"))
        processes[job["name"]] = process  # for Ctrl-C to reach
        exit_code = process.wait()
    earlier = (job["wall_seconds"] or 0.0) if continuing else 0.0  # the attempt it continues
    wall_seconds = round(time.monotonic() - start + earlier, 1)
    if not continuing:
        job_dir.mkdir(exist_ok=True)
        os.replace(log_path, Run(job_dir).job_log)
    done = exit_code == 0 and Run(job_dir).finished
    if done:
        error = None
    elif exit_code == INTERRUPTED_EXIT:  # its own advice (afa train --resume) does not apply here
        error = "interrupted; afa sweep --resume runs it again"
    else:
        error = _last_line(Run(job_dir).job_log) or f"exit code {exit_code}"
    return {"status": DONE if done else FAILED, "exit_code": exit_code, "error": error,
            "wall_seconds": wall_seconds}


def _last_line(path: Path) -> str:
    lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    return next((line for line in reversed(lines) if line), "")[:300]
