"""What a search found, written into its tune folder: trials.csv (one row per trial), Optuna's
plots as PNG (optimization history per objective, parameter importances, and the Pareto front of
two objectives), and the best trial (or the Pareto front) as the `afa train` command that
reproduces it."""

from __future__ import annotations

import shlex
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import matplotlib
from omegaconf import DictConfig
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from afa_cli.config import compose_config
from afa_cli.files import new_file
from afa_cli.runs import Run
from afa_cli.sweep.summary import write_csv
from afa_cli.tune.objectives import Objective, parse_objectives
from afa_cli.tune.state import TuneState
from afa_cli.tune.study import ERROR, RUN, WALL_SECONDS, counted, load_study

SEED_KEY = "seed"


@dataclass
class BestTrial:
    number: int
    values: dict[str, float]  # objective key -> value
    params: dict
    command: str              # the afa train command that reproduces its run


@dataclass
class TuneReport:
    folder: Path
    objectives: list[Objective]
    best: list[BestTrial]     # the best trial, or the Pareto front of two objectives
    counts: dict[str, int]    # trial state -> how many (the trials --trials counts)
    failed: list[int]         # trial numbers
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be drawn, and why

    def failed_line(self) -> str:
        return (f"{len(self.failed)} of {sum(self.counts.values())} trials failed: "
                f"{', '.join(map(str, self.failed))}. Why: trials.csv (error) and "
                f"<trial>/{Run.JOB_LOG}.")


def report(folder: Path) -> TuneReport:
    """Write trials.csv and the plots; the best trial(s) with their commands."""
    state = TuneState.read(folder)
    study = load_study(state)
    objectives = parse_objectives(state.objectives, state.config_paths)
    trials, counting = study.get_trials(deepcopy=False), counted(study)
    counts = {s.name.lower(): n for s in TrialState
              if (n := sum(t.state == s for t in counting))}
    result = TuneReport(folder, objectives, _best(study, state, objectives), counts,
                        [t.number for t in counting if t.state == TrialState.FAIL])
    if trials:
        result.files.append(write_csv(folder / "trials.csv",
                                      [_row(t, state, objectives) for t in trials]))
    _draw(study, objectives, result)
    return result


def _row(trial: FrozenTrial, state: TuneState, objectives: list[Objective]) -> dict:
    values = trial.values or [None] * len(objectives)
    return {"number": trial.number, "state": trial.state.name.lower(),
            **{key: trial.params.get(key) for key in state.space},
            **{o.key: value for o, value in zip(objectives, values)},
            "pruned_at_step": (trial.last_step if trial.state == TrialState.PRUNED else None),
            RUN: trial.user_attrs.get(RUN), WALL_SECONDS: trial.user_attrs.get(WALL_SECONDS),
            ERROR: trial.user_attrs.get(ERROR)}


def _best(study: Study, state: TuneState, objectives: list[Objective]) -> list[BestTrial]:
    """The best complete trial of one objective, the Pareto front of two."""
    if not any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        return []
    best = study.best_trials if len(objectives) > 1 else [study.best_trial]
    return [BestTrial(t.number, {o.key: v for o, v in zip(objectives, t.values)}, t.params,
                      _trial_command(state, t))
            for t in sorted(best, key=lambda t: t.number)]


def _trial_command(state: TuneState, trial: FrozenTrial) -> str:
    """The command of a trial's run; where the run folder is gone (a tune folder copied without
    its trials, or trials deleted for their disk space), of the overrides the search gave it."""
    run = Run(state.folder / trial.user_attrs[RUN])
    if Run.is_run(run.path):
        return train_command(run)
    overrides = state.trial_overrides(trial.params)
    return _command(overrides, state.config_paths,
                    lambda: compose_config(overrides, state.config_paths))


def train_command(run: Run) -> str:
    """`afa train` with the overrides the run was trained with (fixed, sampled, the threads and,
    written out, the seed) and its config folders: its config again, in a new run folder."""
    return _command(run.overrides(), run.config_dirs(), run.config)


def _command(overrides: list[str], config_dirs: list[Path],
             config: Callable[[], DictConfig]) -> str:
    if not any(_key(o) == SEED_KEY for o in overrides):
        overrides = [*overrides, f"{SEED_KEY}={config().seed}"]
    dirs = [arg for folder in config_dirs for arg in ("--config-dir", str(folder))]
    return shlex.join(["afa", "train", *overrides, *dirs])


def _key(override: str) -> str:
    return override.lstrip("+~").split("=", 1)[0]


def _history_file(objective: str) -> str:
    """history_<objective>.png; a suite probe's SUITE/PROBE as SUITE_PROBE."""
    return f"history_{objective.replace('/', '_')}.png"


def _draw(study: Study, objectives: list[Objective], result: TuneReport) -> None:
    """history_<objective>.png (_history_file), importances.png and (two objectives) pareto.png, with Optuna's
    matplotlib plots; a plot the study cannot make yet (importances compare two complete trials
    at least) is a note instead."""
    matplotlib.use("Agg")  # files only, whatever display the machine has
    from matplotlib import pyplot
    from optuna.visualization import matplotlib as plots

    names = [o.key for o in objectives]
    # file -> (complete trials it needs, how to draw it)
    if len(objectives) == 1:
        drawings = {_history_file(names[0]): (1, partial(plots.plot_optimization_history, study,
                                                         target_name=names[0]))}
    else:  # Optuna draws one objective's history at a time, and every importance at once
        drawings = {_history_file(name): (1, partial(plots.plot_optimization_history, study,
                                                     target=partial(_value, index=i),
                                                     target_name=name))
                    for i, name in enumerate(names)}
    drawings["importances.png"] = (2, partial(plots.plot_param_importances, study))
    if len(objectives) > 1:
        drawings["pareto.png"] = (1, partial(plots.plot_pareto_front, study, target_names=names))
    complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    for name, (needed, draw) in drawings.items():
        path = result.folder / name
        path.unlink(missing_ok=True)  # never leave a plot of an earlier report behind
        if complete < needed:
            result.notes.append(f"{name} not drawn: it needs {needed} complete trials, the study "
                                f"has {complete}.")
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna's plots are marked experimental
                axes = draw()
        except (ValueError, RuntimeError) as err:  # e.g. importances of trials that all agree
            result.notes.append(f"{name} not drawn: {err}")
            continue
        with new_file(path, replace=True) as tmp:  # whole, whoever else reports the study too
            axes.figure.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
        pyplot.close(axes.figure)
        result.files.append(path)


def _value(trial: FrozenTrial, index: int) -> float:
    return trial.values[index]
