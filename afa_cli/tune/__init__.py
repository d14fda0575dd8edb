"""`afa tune`: an Optuna search over a search space (space: conf/tune/<name>.yaml) for one or two
validation metrics (objectives). A tune folder holds how the search was set up (state: tune.yaml)
and the study (study: study.db, or a --storage several workers share: storage, shared); each
trial is one `afa train` process and run folder, claimed by the process that runs it (claims),
run by the sweep's job runner and pruned from its validation curve (search); started, joined and
resumed by launch; what it found (report)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from afa_cli.errors import UserError
from afa_cli.runs import release_locks
from afa_cli.sweep.executor import SweepInterrupted
from afa_cli.tune.launch import PrunerOptions, resume_tune, start_tune
from afa_cli.tune.objectives import DEFAULT_OBJECTIVE
from afa_cli.tune.report import TuneReport, report

__all__ = ["PrunerOptions", "SweepInterrupted", "TuneReport", "tune"]


def tune(overrides: list[str], trials: int | None = None, objectives: list[str] | None = None,
         parallel: int = 1, name: str | None = None, config_dir: Path | None = None,
         resume: Path | None = None, pruner: PrunerOptions | None = None,
         sampler_seed: int | None = None, console: Console | None = None,
         storage: str | None = None, join: bool = False) -> TuneReport:
    """Start a search or resume one; returns what it found. Interrupted (Ctrl-C, kill), it
    writes its report all the same and raises SweepInterrupted."""
    console = console or Console()
    pruner = pruner or PrunerOptions()
    if parallel < 1:
        raise UserError("--jobs must be at least 1.")
    if resume is not None and (overrides or objectives or name or config_dir or storage or join
                               or sampler_seed is not None or pruner != PrunerOptions()):
        raise UserError("--resume continues the search as it was set up; only --trials and "
                        "--jobs may change: drop the overrides and the other options.")
    try:
        search = (resume_tune(Path(resume), trials, parallel, console) if resume is not None
                  else start_tune(overrides, trials, objectives or [DEFAULT_OBJECTIVE], parallel,
                                  name, config_dir, pruner, sampler_seed, console, storage,
                                  join))
        try:
            search.run()
        finally:  # interrupted too: what the trials found so far
            result = report(search.folder)
    finally:
        release_locks()  # the tune folder's and the trials' claims, the locks this process holds
    return result
