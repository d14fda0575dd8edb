"""Starting a search (its tune folder, tune.yaml and study.db, or its study in a --storage workers
share), joining one (--join) and resuming one that stopped. Everything the command line can get
wrong is checked before the folder exists."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console

from afa_cli.config.schema import FOLDER_NAME_RULE, is_folder_name
from afa_cli.errors import UserError
from afa_cli.runs import Run, new_timestamped_dir
from afa_cli.sweep.grid import RESERVED_KEYS, key_of, parse
from afa_cli.sweep.hydra_launch import is_launcher_override
from afa_cli.sweep.runner import check_output_dir
from afa_cli.tune.claims import claim, release
from afa_cli.tune.objectives import Objective, parse_objectives
from afa_cli.tune.search import Search
from afa_cli.tune.shared import start_shared
from afa_cli.tune.space import PRESET_GROUP, check_space, load_space
from afa_cli.tune.state import TuneState
from afa_cli.tune.storage import masked, normalize
from afa_cli.tune.study import (ERROR, RETRIED, counted, create_study, finished_count,
                                held_count, load_study, reopen, run_name)


@dataclass
class PrunerOptions:
    """The median pruner's settings as given; None where the option was not given."""

    kind: str | None = None           # median or none
    startup_trials: int | None = None
    warmup_steps: int | None = None

    def settings(self, objectives: list[Objective]) -> dict | None:
        """tune.yaml's pruner: the median pruner by default for one validation metric, none
        for two objectives or a suite probe's (it is scored once the trial has trained)."""
        given = [value for value in (self.startup_trials, self.warmup_steps) if value is not None]
        if self.kind not in (None, "median", "none"):
            raise UserError(f"--pruner {self.kind}: choose median or none.")
        prunable = len(objectives) == 1 and objectives[0].suite is None
        if not prunable and (self.kind == "median" or given):
            raise UserError("Pruning needs one objective, a validation metric (Optuna prunes "
                            "single-objective studies only, on values seen while training); "
                            "drop --pruner and --prune-*.")
        if any(value < 0 for value in given):
            raise UserError("--prune-startup and --prune-warmup must be at least 0.")
        if self.kind == "none" or not prunable:
            return None
        return {"startup_trials": 5 if self.startup_trials is None else self.startup_trials,
                "warmup_steps": 0 if self.warmup_steps is None else self.warmup_steps}


def start_tune(args: list[str], trials: int | None, objective_keys: list[str], parallel: int,
               name: str | None, config_dirs: list[Path], pruner: PrunerOptions,
               sampler_seed: int | None, console: Console, storage: str | None = None,
               join: bool = False) -> Search:
    """Check the command line and the search space, create the tune folder and the study (or,
    with --join, find the study the storage holds and check that it is set up alike); returns
    the search, ready to run."""
    if join and storage is None:
        raise UserError("--join runs trials for a study in a storage several workers share: "
                        "give --storage URL too.")
    storage = normalize(storage) if storage is not None else None
    if trials is None or trials < 1:
        raise UserError("Give --trials N (at least 1): how many trainings the search runs.")
    if name is not None and not is_folder_name(name):
        raise UserError(f"--name {name!r}: use {FOLDER_NAME_RULE}.")
    objectives = parse_objectives(objective_keys, config_dirs)
    pruner_settings = pruner.settings(objectives)
    preset, fixed = _split_command_line(args)
    space = load_space(preset, config_dirs)
    fixed_keys = {key_of(o) for o in parse(fixed)}
    for param in [p for p in space if p.key in fixed_keys]:
        console.print(f"{param.key} is set on the command line: not searched", highlight=False)
    space = [p for p in space if p.key not in fixed_keys]
    if not space:
        raise UserError(f"Nothing to tune: the command line sets every key of '{preset}'.")
    output_dir = check_space(preset, space, fixed, config_dirs)
    check_output_dir(output_dir)

    options = [f"--trials {trials}", f"--jobs {parallel}",
               *(f"--objective {key}" for key in objective_keys),
               *([f"--name {name}"] if name else []),
               *(f"--config-dir {folder}" for folder in config_dirs),
               *([f"--storage {masked(storage)}"] if storage else []),
               *(["--join"] if join else [])]
    setup = dict(command=" ".join(["afa tune", shlex.join(args), *options]), preset=preset,
                 overrides=fixed, space={p.key: p.spec.given() for p in space},
                 objectives=[o.key for o in objectives], pruner=pruner_settings,
                 sampler_seed=sampler_seed, trials=trials)
    directions = [o.direction for o in objectives]
    if storage is None:
        folder = new_timestamped_dir(output_dir / "tunes", name or preset)
        Run(folder).lock()  # one process runs a search; the lock goes with it, however it ends
        state = TuneState.create(folder, config_dirs, **setup)
        study, continuing = create_study(state, directions), []
    else:  # workers share the tune folder: each claims the trials it runs instead
        state, study = start_shared(storage, join, name or preset, output_dir, config_dirs,
                                    setup, directions)
        joined = study is None
        study = load_study(state) if joined else study
        continuing = _take_over(state, study) if joined else []
    what = (f"{finished_count(study)} of {trials} trials done, {len(continuing)} to continue"
            if continuing or finished_count(study) else f"{trials} trials")
    console.print(f"tune folder: {state.folder} ({what}; {_describe(state, objectives)})"
                  + (f"; study '{state.study_name}' in {masked(state.storage)}"
                     if state.storage else ""), highlight=False, soft_wrap=True)
    return Search(state, study, objectives, continuing, parallel, console)


def _split_command_line(args: list[str]) -> tuple[str, list[str]]:
    """(the search space's name, every trial's fixed overrides)."""
    launcher = next((a for a in args if is_launcher_override(a)), None)
    if launcher is not None:
        raise UserError(f"{launcher}: afa tune runs its trials as local processes (it stops "
                        "pruned ones itself); Hydra launchers are for afa sweep.")
    parsed = parse(args)
    for override in parsed:
        key = key_of(override)
        if key.startswith("hydra"):
            raise UserError(f"{override.input_line}: afa tune takes no Hydra settings.")
        if key in RESERVED_KEYS:
            raise UserError(f"{override.input_line}: every trial gets its own run folder; "
                            "use output_dir=DIR to choose where the tune folder goes.")
        if override.is_sweep_override():
            raise UserError(f"{override.input_line}: afa tune gives every trial one value per "
                            f"key; the searched keys and their ranges go in conf/{PRESET_GROUP}/ "
                            "(for a grid, use afa sweep).")
    presets = [o for o in parsed if key_of(o) == PRESET_GROUP]
    if len(presets) != 1:
        raise UserError(f"Give one search space, +{PRESET_GROUP}=NAME (conf/{PRESET_GROUP}/ or "
                        "a --config-dir folder), e.g. +tune=afa.")
    return (presets[0].get_value_element_as_str(),
            [o.input_line for o in parsed if key_of(o) != PRESET_GROUP])


def _describe(state: TuneState, objectives: list[Objective]) -> str:
    pruning = (f"median pruner once {state.pruner['startup_trials']} trials complete, from step "
               f"{state.pruner['warmup_steps']}" if state.pruner else "no pruning")
    return f"{', '.join(o.describe() for o in objectives)}; {pruning}"


def resume_tune(folder: Path, trials: int | None, parallel: int, console: Console) -> Search:
    """Continue the study up to `trials` (default: as many as it was started with). A trial that
    was running when the search stopped continues from its run's checkpoints/last, in the same
    folder and the same Optuna trial; one stopped before its first checkpoint is told failed and
    its values are tried again in a new trial; one whose run finished meanwhile is told so. In a
    study workers share, only the trials no live worker claims are continued."""
    state = TuneState.read(folder)
    if trials is not None and trials < 1:
        raise UserError("--trials must be at least 1.")
    if state.storage is None:
        Run(folder).lock()
    study = load_study(state)
    held = held_count(study)
    if trials is not None and trials < held:
        raise UserError(f"--trials {trials}: the study already holds {held} trials.")
    continuing = _take_over(state, study)
    if trials is not None and trials != state.trials:
        state.set_trials(trials)
    objectives = parse_objectives(state.objectives, state.config_paths)
    console.print(f"tune folder: {folder} ({finished_count(study)} of {state.trials} trials "
                  f"done, {len(continuing)} to continue; {_describe(state, objectives)})",
                  highlight=False, soft_wrap=True)
    return Search(state, study, objectives, continuing, parallel, console)


def _take_over(state: TuneState, study: Study) -> list[FrozenTrial]:
    """The trials a stopped search process left RUNNING, claimed by this one: the ones to
    continue (interrupted before their first checkpoint: told failed and tried again). One that
    is still being trained (its search was killed, its training was not) is one line."""
    left = [t.number for t in counted(study)
            if t.state == TrialState.RUNNING and claim(state.folder, t.number)]
    # claimed: nobody else tells them now; one told just before its claim was free is let go
    taken = [t for t in counted(study) if t.number in left and t.state == TrialState.RUNNING]
    for number in set(left) - {t.number for t in taken}:
        release(state.folder, number)
    for trial in taken:  # before anything changes: a trial still training is left alone
        writer = Run(_run_dir(state, trial)).writer()
        if writer is not None:
            raise UserError(f"trial {trial.number} is still being trained by process {writer}; "
                            f"wait for it or stop it (kill {writer}) before resuming.")
    continuing = []
    for trial in taken:
        if _settle(study, Run(_run_dir(state, trial)), trial):
            continuing.append(trial)
        else:
            release(state.folder, trial.number)
    return continuing


def _run_dir(state: TuneState, trial: FrozenTrial) -> Path:
    return state.folder / run_name(trial.number)


def _settle(study: Study, run: Run, trial: FrozenTrial) -> bool:
    """Whether an interrupted trial goes on: its run continues from checkpoints/last, or has
    finished meanwhile (the search tells it so). One stopped before its first checkpoint is told
    failed here, and its values are tried again in a new trial."""
    if run.finished or run.resumable:
        return True
    handle = reopen(study, trial)
    handle.set_user_attr(ERROR, "interrupted before its first checkpoint; its values are tried "
                                "again in a new trial")
    handle.set_user_attr(RETRIED, True)
    study.tell(handle, state=TrialState.FAIL)
    study.enqueue_trial(trial.params)
    return False
