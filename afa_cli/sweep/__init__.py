"""`afa sweep`: a grid of training runs (grid) in a sweep folder whose sweep.yaml tracks every job
(state), each job one `afa train` process (runner) run locally (local) or through a Hydra launcher
(hydra_launch); started and resumed by launch; what they found (summary, plot)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from afa_cli.errors import UserError
from afa_cli.sweep.executor import SweepInterrupted
from afa_cli.metrics.registry import DEFAULT_RUN_METRIC
from afa_cli.sweep.state import SweepState
from afa_cli.sweep.summary import STD_NOTE, SweepReport, check_baseline, check_metric, summarize

__all__ = ["STD_NOTE", "SweepInterrupted", "SweepReport", "sweep"]


def sweep(overrides: list[str], parallel: int = 1, name: str | None = None,
          config_dir: Path | None = None, resume: Path | None = None,
          summarize_dir: Path | None = None, metric: str = DEFAULT_RUN_METRIC,
          console: Console | None = None, baseline: str | None = None) -> SweepReport:
    """Start a sweep, resume one, or only summarize one; returns its summary."""
    # here, not above: reading a sweep (its state, summary, plot; afa report) needs no torch
    from afa_cli.sweep.launch import resume_sweep, start_sweep

    console = console or Console()
    check_metric(metric)
    if parallel < 1:
        raise UserError("--jobs must be at least 1.")
    if resume is not None and summarize_dir is not None:
        raise UserError("Use either --resume or --summarize, not both.")
    existing = resume if resume is not None else summarize_dir
    if existing is not None:
        if overrides or name or config_dir:
            raise UserError("--resume and --summarize use the sweep's own grid; "
                            "drop the overrides, --name and --config-dir.")
        if baseline is not None:
            state = SweepState.read(Path(existing))
            check_baseline(baseline, state.swept_keys, [job.values for job in state.jobs])
        if resume is not None:
            resume_sweep(Path(resume), parallel, console)
        return summarize(Path(existing), metric, baseline)
    return summarize(start_sweep(overrides, parallel, name, config_dir, console, baseline),
                     metric, baseline)
