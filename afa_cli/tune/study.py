"""The Optuna study of a tune folder, in its study.db (SQLite): every trial's parameters, state,
values and reported validation values. Sampler and pruner are not stored by Optuna; they are
rebuilt from tune.yaml each time the study is opened.

Each trial also carries user attributes: its run folder's name, its wall time and, when it did
not complete, why."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.pruners import BasePruner, MedianPruner, NopPruner
from optuna.samplers import TPESampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from afa_cli.tune.state import TuneState

STUDY_FILE = "study.db"
# Trial user attributes.
RUN = "run"                    # the trial's run folder, inside the tune folder
WALL_SECONDS = "wall_seconds"  # its whole time, a continued attempt included
ERROR = "error"                # one line, for a failed trial
RETRIED = "retried"            # interrupted before its first checkpoint: its values are tried
#                                again in a new trial, and it does not count toward --trials

optuna.logging.set_verbosity(optuna.logging.WARNING)  # afa prints each trial's line itself


def storage_url(folder: Path) -> str:
    return f"sqlite:///{(Path(folder) / STUDY_FILE).resolve()}"


def create_study(state: TuneState, directions: list[str]) -> Study:
    return optuna.create_study(storage=storage_url(state.folder), study_name=state.folder.name,
                               directions=directions, sampler=sampler(state.sampler_seed),
                               pruner=_pruner(state))


def load_study(state: TuneState) -> Study:
    study = optuna.load_study(study_name=None, storage=storage_url(state.folder),
                              pruner=_pruner(state))
    # A fresh sampler of the first seed would propose the first trials' values again.
    study.sampler = sampler(None if state.sampler_seed is None
                            else state.sampler_seed + len(study.trials))
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
    """The trials --trials counts: all but the interrupted ones tried again."""
    return [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get(RETRIED)]


def finished_count(study: Study) -> int:
    return sum(t.state.is_finished() for t in counted(study))


def held_count(study: Study) -> int:
    """The trials that count and hold a place (an enqueued one, WAITING, is what the next ask
    starts, so it takes no place of its own)."""
    return sum(t.state != TrialState.WAITING for t in counted(study))


def may_ask(study: Study, total: int) -> bool:
    """Whether another trial may start: the study holds fewer than `total`."""
    return held_count(study) < total
