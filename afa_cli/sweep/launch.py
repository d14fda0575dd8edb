"""Starting a sweep (its folder and sweep.yaml) and resuming one that stopped; the jobs run on
the executor the sweep asked for."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from rich.console import Console

from afa_cli.config.schema import FOLDER_NAME_RULE, is_folder_name
from afa_cli.errors import UserError
from afa_cli.runs import Run, new_timestamped_dir
from afa_cli.sweep.hydra_launch import HydraLauncherExecutor, check_launcher, is_launcher_override
from afa_cli.sweep.executor import Executor
from afa_cli.sweep.grid import check_jobs, plan_sweep
from afa_cli.sweep.local import LocalExecutor
from afa_cli.sweep.runner import can_continue, check_output_dir, stray_log
from afa_cli.sweep.state import DONE, JobState, Outcome, SweepState
from afa_cli.sweep.summary import check_baseline

PREVIOUS_ATTEMPTS = "previous_attempts"


def start_sweep(args: list[str], parallel: int, name: str | None, config_dirs: list[Path],
                console: Console, baseline: str | None = None) -> Path:
    """Plan and check every job (and the baseline its summary pairs with), create the sweep
    folder, run the jobs; returns the folder."""
    if name is not None and not is_folder_name(name):
        raise UserError(f"--name {name!r}: use {FOLDER_NAME_RULE}.")
    launcher = [a for a in args if is_launcher_override(a)]
    other_hydra = [a for a in args if a.lstrip("+~").startswith("hydra") and a not in launcher]
    if other_hydra:
        raise UserError(f"{other_hydra[0]}: afa sweep takes only hydra/launcher=NAME and "
                        "hydra.launcher.KEY=VALUE from Hydra's own settings.")
    if launcher:
        check_launcher(launcher)
    plan = plan_sweep([a for a in args if a not in launcher], config_dirs)
    if baseline is not None:
        check_baseline(baseline, plan.swept_keys, [job.values for job in plan.jobs])
    output_dir = check_jobs(plan.jobs, config_dirs)
    check_output_dir(output_dir)
    sweep_dir = new_timestamped_dir(output_dir / "sweeps", name or plan.preset)
    options = [f"--jobs {parallel}", *([f"--name {name}"] if name else []),
               *(f"--config-dir {folder}" for folder in config_dirs)]
    state = SweepState.create(
        sweep_dir, command=" ".join(["afa sweep", shlex.join(args), *options]),
        config_dirs=config_dirs, preset=plan.preset, launcher=launcher,
        grids=[shlex.join(grid) for grid in plan.grids], swept_keys=plan.swept_keys,
        jobs=[JobState(job.name, job.overrides,
                       {key: job.values[key] for key in plan.swept_keys if key in job.values})
              for job in plan.jobs])
    console.print(f"sweep folder: {sweep_dir} ({len(plan.jobs)} jobs)")
    run_unfinished(state, parallel, console)
    return sweep_dir


def resume_sweep(sweep_dir: Path, parallel: int, console: Console) -> Path:
    """Finish every job that is not done: a stopped one continues from its checkpoints/last
    (afa train --resume); any other starts again after its earlier folder is moved aside."""
    state = SweepState.read(sweep_dir)
    if state.live_pid():
        raise UserError(f"{sweep_dir} is still being run by process {state.pid}; "
                        "wait for it or stop it before resuming.")
    for job in state.unfinished():  # before anything moves: a job still training is left alone
        writer = Run(state.job_dir(job)).writer()
        if writer is not None:
            raise UserError(f"job {job.name} is still being trained by process {writer}; wait "
                            f"for it or stop it (kill {writer}) before resuming the sweep.")
    for job in state.unfinished():
        if Run(state.job_dir(job)).finished:  # finished by hand, as its job.log suggests
            state.record(job, Outcome(DONE, 0, None, job.wall_seconds))
    unfinished = state.unfinished()
    console.print(f"sweep folder: {sweep_dir} ({len(state.jobs) - len(unfinished)} done, "
                  f"{len(unfinished)} to run)")
    for job in unfinished:
        if not can_continue(state.job_dir(job)):
            _move_aside(state, job)
        state.requeue(job)
    run_unfinished(state, parallel, console)
    return sweep_dir


def _move_aside(state: SweepState, job: JobState) -> None:
    """A job's earlier attempt goes to previous_attempts/, so a re-run starts in a new folder."""
    job_dir, log = state.job_dir(job), stray_log(state.folder, job)
    if not job_dir.exists() and not log.exists():
        return
    aside = state.folder / PREVIOUS_ATTEMPTS / f"{job.name}-attempt{job.attempts}"
    aside.parent.mkdir(exist_ok=True)
    if job_dir.exists():
        os.replace(job_dir, aside)
    else:
        aside.mkdir()
    if log.exists():
        os.replace(log, Run(aside).job_log)


def run_unfinished(state: SweepState, parallel: int, console: Console) -> None:
    """Run the jobs not done yet; sweep.yaml names the process while it runs them."""
    executor: Executor = (HydraLauncherExecutor(state.launcher, parallel, console)
                          if state.launcher else LocalExecutor(parallel, console))
    state.set_pid(os.getpid())
    try:
        executor.run(state, state.unfinished())
    finally:
        state.set_pid(None)
