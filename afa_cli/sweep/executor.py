"""How a sweep's jobs get run: local processes (local.LocalExecutor) or a Hydra launcher
(hydra_launch.HydraLauncherExecutor), both behind one interface."""

from __future__ import annotations

from typing import Protocol

from rich.markup import escape

from afa_cli.sweep.state import DONE, JobState, SweepState


class SweepInterrupted(Exception):
    """Ctrl-C: running jobs were asked to stop (each saves its last checkpoint)."""


class Executor(Protocol):
    def run(self, state: SweepState, jobs: list[JobState]) -> None:
        """Run the jobs, each through runner.run_job. Each attempt's start and outcome go into
        `state` as they happen, so that sweep.yaml still tells which jobs ended when the sweep
        is stopped."""


def outcome_text(job: JobState) -> str:
    """The end of a job's line in the sweep's output."""
    return (f"[green]done[/green] in {job.wall_seconds:.0f} s" if job.status == DONE
            else f"[red]failed[/red]: {escape(job.error)}")
