"""`afa sweep`: start a sweep, resume one or only summarize one (afa_cli/sweep), and lay out its
summary's tables for the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from afa_cli.errors import UserError
from afa_cli.metrics.registry import DEFAULT_RUN_METRIC
from afa_cli.sweep.state import SweepState
from afa_cli.sweep.summary import SweepReport, check_baseline, check_metric, summarize
from afa_cli.views import sections
from afa_cli.views.terminal import FittedTable

# The paired table's columns a narrow terminal leaves out first: the others say what differs.
NARROW_LEAVES_OUT = ("seeds", "p")


def sweep(overrides: list[str], parallel: int = 1, name: str | None = None,
          config_dirs: Sequence[Path] = (), resume: Path | None = None,
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
        if overrides or name or config_dirs:
            raise UserError("--resume and --summarize use the sweep's own grid; "
                            "drop the overrides, --name and --config-dir.")
        if baseline is not None:
            state = SweepState.read(Path(existing))
            check_baseline(baseline, state.swept_keys, [job.values for job in state.jobs])
        if resume is not None:
            resume_sweep(Path(resume), parallel, console)
        return summarize(Path(existing), metric, baseline)
    started = start_sweep(args=overrides, parallel=parallel, name=name,
                          config_dirs=list(config_dirs), console=console, baseline=baseline)
    return summarize(started, metric, baseline)


def sweep_tables(report: SweepReport) -> list[FittedTable]:
    """A sweep summary's tables, fitted to the line (wrapped between words, never inside a
    number; the paired table's p and seeds left out first) and whole off a terminal."""
    return [FittedTable(sections.Table(
        header=tuple(header), rows=tuple(map(tuple, rows)), title=title,
        optional=tuple(column for column in NARROW_LEAVES_OUT if column in header)))
        for title, header, rows in report.tables()]
