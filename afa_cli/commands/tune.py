"""`afa tune`: start an Optuna search over a search space, join one that workers share, or
resume one (afa_cli/tune); returns what it found, interrupted or not."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from afa_cli.errors import UserError
from afa_cli.runs import release_locks
from afa_cli.tune.launch import PrunerOptions, resume_tune, start_tune
from afa_cli.tune.objectives import DEFAULT_OBJECTIVE
from afa_cli.tune.report import TuneReport, report


def tune(overrides: list[str], trials: int | None = None, objectives: list[str] | None = None,
         parallel: int = 1, name: str | None = None, config_dirs: Sequence[Path] = (),
         resume: Path | None = None, pruner: PrunerOptions | None = None,
         sampler_seed: int | None = None, console: Console | None = None,
         storage: str | None = None, join: bool = False) -> TuneReport:
    """Start a search or resume one; returns what it found. Interrupted (Ctrl-C, kill), it
    writes its report all the same and raises SweepInterrupted."""
    console = console or Console()
    pruner = pruner or PrunerOptions()
    if parallel < 1:
        raise UserError("--jobs must be at least 1.")
    if resume is not None and (overrides or objectives or name or config_dirs or storage or join
                               or sampler_seed is not None or pruner != PrunerOptions()):
        raise UserError("--resume continues the search as it was set up; only --trials and "
                        "--jobs may change: drop the overrides and the other options.")
    try:
        search = (resume_tune(Path(resume), trials, parallel, console) if resume is not None
                  else start_tune(args=overrides, trials=trials,
                                  objective_keys=objectives or [DEFAULT_OBJECTIVE],
                                  parallel=parallel, name=name, config_dirs=list(config_dirs),
                                  pruner=pruner, sampler_seed=sampler_seed, console=console,
                                  storage=storage, join=join))
        try:
            search.run()
        finally:  # interrupted too: what the trials found so far
            result = report(search.folder)
    finally:
        release_locks()  # the tune folder's and the trials' claims, the locks this process holds
    return result
