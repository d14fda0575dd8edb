"""The Optuna study of a tune folder, in its study.db (SQLite), or, for a search several workers
share, in the storage tune.yaml names (--storage): every trial's parameters, state, values and
reported validation values. Sampler and pruner are not stored by Optuna; they are rebuilt from
tune.yaml each time the study is opened.

Each trial also carries user attributes: its run folder's name, its wall time and, when it did
not complete, why."""

from __future__ import annotations

import os
from pathlib import Path

import optuna
from optuna.pruners import BasePruner, MedianPruner, NopPruner
from optuna.samplers import TPESampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from afa_cli.tune.state import TuneState
from afa_cli.tune.storage import open_storage

STUDY_FILE = "study.db"
# Trial user attributes.
RUN = "run"                    # the trial's run folder, inside the tune folder
WALL_SECONDS = "wall_seconds"  # its whole time, a continued attempt included
ERROR = "error"                # one line, for a failed trial
RETRIED = "retried"            # interrupted before its first checkpoint: its values are tried
#                                again in a new trial, and it does not count toward --trials
SURPLUS = "surplus"            # asked by a worker after others had asked the last one --trials
#                                allows: never run, and it does not count either

optuna.logging.set_verbosity(optuna.logging.WARNING)  # afa prints each trial's line itself


def storage_url(folder: Path) -> str:
    """The study.db of a tune folder whose study is its own."""
    return f"sqlite:///{(Path(folder) / STUDY_FILE).resolve()}"


def _storage(state: TuneState):
    return open_storage(state.storage) if state.storage else storage_url(state.folder)


def create_study(state: TuneState, directions: list[str]) -> Study:
    """The study, new (optuna's DuplicatedStudyError when the storage has one of its name)."""
    return optuna.create_study(storage=_storage(state),
                               study_name=state.study_name or state.folder.name,
                               directions=directions, sampler=sampler(state.sampler_seed),
                               pruner=_pruner(state))


def load_study(state: TuneState) -> Study:
    study = optuna.load_study(study_name=state.study_name, storage=_storage(state),
                              pruner=_pruner(state))
    # A fresh sampler of the first seed would propose the first trials' values again; workers
    # that join at once each add their process id, so that they do not propose the same ones.
    study.sampler = sampler(None if state.sampler_seed is None
                            else state.sampler_seed + len(study.trials)
                            + (os.getpid() if state.storage else 0))
    return study


def sampler(seed: int | None) -> TPESampler:
    """TPE for one objective and two alike (its multi-objective form)."""
    return TPESampler(seed=seed)


def _pruner(state: TuneState) -> BasePruner:
    if state.pruner is None:
        return NopPruner()
    return MedianPruner(n_startup_trials=state.pruner["startup_trials"],
                        n_warmup_steps=state.pruner["warmup_steps"])


def reopen(study: Study, trial: FrozenTrial) -> optuna.Trial:
    """A handle to report to and tell an unfinished trial of an earlier process: Optuna has no
    public one, so the trial is reopened by its storage id."""
    return optuna.Trial(study, trial._trial_id)


def run_name(number: int) -> str:
    return f"trial_{number:03d}"


def counted(study: Study) -> list[FrozenTrial]:
    """The trials --trials counts: all but the interrupted ones tried again and the surplus."""
    return [t for t in study.get_trials(deepcopy=False)
            if not (t.user_attrs.get(RETRIED) or t.user_attrs.get(SURPLUS))]


def finished_count(study: Study) -> int:
    return sum(t.state.is_finished() for t in counted(study))


def held_count(study: Study) -> int:
    """The trials that count and hold a place (an enqueued one, WAITING, is what the next ask
    starts, so it takes no place of its own)."""
    return sum(t.state != TrialState.WAITING for t in counted(study))


def may_ask(study: Study, total: int) -> bool:
    """Whether another trial may start: the study holds fewer than `total`."""
    return held_count(study) < total


def within_budget(study: Study, trial: optuna.Trial, total: int) -> bool:
    """Whether a trial just asked is one of the first `total` the study holds. Workers that
    share a study may each ask the last trial allowed at once; Optuna numbers trials in the
    order the storage made them, so the later ones are the surplus, whoever asked them."""
    earlier = sum(t.state != TrialState.WAITING and t.number < trial.number
                  for t in counted(study))
    return earlier < total
