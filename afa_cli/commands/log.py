"""`afa log`: runs' metrics.jsonl replayed into a tracker (afa_cli/tracking), so that runs trained
before it was configured can be compared there with the runs it tracked live."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from omegaconf import DictConfig

from afa_cli.config import compose_config
from afa_cli.errors import UserError
from afa_cli.runs import Run, release_locks
from afa_cli.tracking import backends
from afa_cli.tracking.tracker import Target


def replay(paths: list[Path], to: str, experiment: str | None,
           config_dirs: list[Path]) -> Iterator[str]:
    """Log each run to the trackers of the logger option `to`; one line per run."""
    runs = [Run.open(path) for path in paths]  # a folder that is no run stops before any logging
    logger = compose_config([f"logger={to}"], config_dirs).logger
    trackers = backends.chosen(logger)
    if not trackers:
        raise UserError(f"--to {to} chooses no tracker; choose "
                        f"{', '.join(backends.BACKENDS)}.")
    backends.check(trackers)
    for run in runs:
        yield replay_run(run, trackers, experiment)


def replay_run(run: Run, trackers: dict[str, DictConfig], experiment: str | None) -> str:
    try:
        run.lock()  # a training still writing it would add events after the replay
    except UserError as busy:
        return f"skipped {run.path}: {busy}"
    try:
        todo = {name: settings for name, settings in trackers.items()
                if name not in run.trackers()}
        if not todo:
            return f"skipped {run.path}: already in {', '.join(trackers)}"
        config = run.config()
        # --experiment, else the one the run was trained for
        target = Target(run=run, config=config,
                        experiment=experiment or config.logger.experiment, start_step=0)
        events = run.events()
        places = []
        for tracker in backends.start(todo, target):
            for event in events:
                tracker.log_event(event)
            tracker.finish(completed=True)
            places.append(tracker.where)
        return f"logged {run.path}: {len(events)} events to {'; '.join(places)}"
    finally:
        release_locks()
