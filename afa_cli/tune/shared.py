"""A search several `afa tune` workers share (--storage URL): its study in a storage every worker
reaches, named --name (else the search space's name), and one tune folder every worker sees
(output_dir on a shared file system), whose trial folders are named by the study's trial numbers,
unique in the study. The first worker creates both; a worker started with --join runs trials for
the study, once its command line is found to set the search up as the study's tune.yaml does."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from optuna.exceptions import DuplicatedStudyError
from optuna.study import Study, get_all_study_names

from afa_cli.errors import UserError
from afa_cli.runs import new_timestamped_dir
from afa_cli.tune.state import TuneState
from afa_cli.tune.storage import masked, normalize, open_storage
from afa_cli.tune.study import create_study

FOLDER = "afa_tune_folder"  # the study's user attribute: its tune folder, in <output_dir>/tunes
WAIT_SECONDS = 30           # for the worker that created the study to name its tune folder
# What every worker's command line must set as the study's first worker did, and its name.
SETUP = {"preset": "search space", "space": "search space", "overrides": "fixed overrides",
         "objectives": "--objective", "pruner": "pruner", "sampler_seed": "--sampler-seed",
         "trials": "--trials", "config_dirs": "--config-dir"}


def start_shared(url: str, join: bool, name: str, output_dir: Path, config_dirs: list[Path],
                 setup: dict, directions: list[str]) -> tuple[TuneState, Study | None]:
    """The search's tune.yaml and, when this worker created it, its study (None: joined)."""
    url = normalize(url)
    storage = open_storage(url)
    if name in get_all_study_names(storage):
        return _join(storage, url, name, join, output_dir, config_dirs, setup), None
    folder = new_timestamped_dir(output_dir / "tunes", name)
    try:
        state = TuneState.create(folder, config_dirs, storage=url, study_name=name, **setup)
        study = create_study(state, directions)
    except DuplicatedStudyError:  # another worker created it meanwhile
        shutil.rmtree(folder, ignore_errors=True)
        return _join(storage, url, name, join, output_dir, config_dirs, setup), None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    study.set_user_attr(FOLDER, folder.name)
    return state, study


def _join(storage, url: str, name: str, join: bool, output_dir: Path, config_dirs: list[Path],
          setup: dict) -> TuneState:
    if not join:
        raise UserError(f"Study '{name}' already exists in {masked(url)}: add --join to run "
                        "trials for it, or choose another --name.")
    folder = output_dir / "tunes" / _folder_name(storage, url, name)
    if not TuneState.is_tune(folder) or TuneState.read(folder).study_name != name:
        raise UserError(f"Study '{name}' keeps its trials in {folder}, which this machine does "
                        "not see: give every worker the same output_dir, on a file system they "
                        "share.")
    state = TuneState.read(folder)
    _check_same(state, dict(setup, config_dirs=_resolved(config_dirs)))
    return state


def _folder_name(storage, url: str, name: str) -> str:
    """The study's tune folder, once the worker that created the study has named it."""
    study_id = storage.get_study_id_from_name(name)
    deadline = time.monotonic() + WAIT_SECONDS
    while (folder := storage.get_study_user_attrs(study_id).get(FOLDER)) is None:
        if time.monotonic() > deadline:
            raise UserError(f"Study '{name}' in {masked(url)} was not made by afa tune (it names "
                            "no tune folder); choose another --name.")
        time.sleep(0.5)
    return folder


def _check_same(state: TuneState, mine: dict) -> None:
    """One line naming the first setting this worker's command line sets otherwise."""
    theirs = {key: getattr(state, key) for key in SETUP}
    theirs["config_dirs"] = _resolved(state.config_paths)
    where = f"{state.folder / TuneState.FILE}"
    for key, what in SETUP.items():
        here, there = mine[key], theirs[key]
        if here == there:
            continue
        if key == "space":
            param = next(k for k in {**there, **here} if here.get(k) != there.get(k))
            here, there = here.get(param), there.get(param)
            difference = (f"searches {param} as {there} ({where}), this worker "
                          + (f"as {here}" if here is not None else "sets it")
                          if there is not None else
                          f"does not search {param} ({where}), this worker does, as {here}")
        else:
            difference = f"was set up with {what} {there!r} ({where}), this worker with {here!r}"
        raise UserError(f"--join: study '{state.study_name}' {difference}; give every worker "
                        "the command that started the study, with --join.")


def _resolved(config_dirs: list[Path]) -> list[str]:
    return [str(Path(folder).resolve()) for folder in config_dirs]
