"""Running a sweep's jobs through a Hydra launcher plugin (hydra/launcher=submitit_slurm,
submitit_local, joblib, ...) instead of local processes.

The launcher only decides where and when a job runs. Each launched job is the same `afa train`
process a local sweep starts (runner.run_job), writing into the same sweep folder, so summary and
--resume do not depend on how the jobs ran. Hydra composes a small config of its own here: the
launcher's settings plus `job_index`, the job a launched task runs."""

from __future__ import annotations

import difflib
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hydra import initialize
from hydra._internal.callbacks import Callbacks
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn
from hydra.errors import HydraException
from hydra.types import HydraContext, RunMode
from omegaconf import DictConfig
from rich.console import Console

from afa_cli.machine import available_cores
from afa_cli.errors import UserError
from afa_cli.sweep.executor import outcome_text
from afa_cli.sweep.runner import run_job
from afa_cli.sweep.state import FAILED, JobState, Outcome, SweepState

CONFIG_NAME = "afa_sweep_launch"
LAUNCHER_FOLDER = "launcher"  # inside the sweep folder: what the launcher itself writes
ConfigStore.instance().store(name=CONFIG_NAME, node={
    "defaults": [{"override hydra/job_logging": "disabled"},
                 {"override hydra/hydra_logging": "disabled"}, "_self_"],
    "hydra": {"output_subdir": None, "job": {"chdir": False}},
    "job_index": None,
})


def is_launcher_override(override: str) -> bool:
    """hydra/launcher=NAME and hydra.launcher.KEY=VALUE (with or without +/++)."""
    key = override.lstrip("+~").split("=", 1)[0]
    return key == "hydra/launcher" or key.startswith("hydra.launcher.")


@dataclass
class LaunchedJob:
    """What a launched task runs: one sweep job. It is pickled to the launcher's workers (a
    SLURM node, for instance), so it carries only plain values."""

    sweep_dir: str
    jobs: list[JobState]
    parallel: int
    config_dirs: list[str]

    def __call__(self, cfg: DictConfig) -> Outcome:
        # the cores of the machine the job landed on, shared by the jobs it runs at once
        threads = max(1, available_cores() // self.parallel)
        return run_job(Path(self.sweep_dir), self.jobs[cfg.job_index], threads,
                       [Path(folder) for folder in self.config_dirs])


# The launcher plugins afa supports, and the hydra/launcher options each installs.
LAUNCHER_PLUGINS = {"hydra-submitit-launcher": ("submitit_local", "submitit_slurm"),
                    "hydra-joblib-launcher": ("joblib",)}


@contextmanager
def _launcher_config(launcher_overrides: list[str], sweep_dir: Path):
    """(Hydra, its composed config) for these launcher settings; a bad one is a UserError."""
    overrides = [*launcher_overrides, f"hydra.sweep.dir={(sweep_dir / LAUNCHER_FOLDER).resolve()}"]
    GlobalHydra.instance().clear()
    try:
        with initialize(version_base=None, config_path=None):
            hydra = GlobalHydra.instance().hydra
            try:
                cfg = hydra.compose_config(CONFIG_NAME, overrides, run_mode=RunMode.MULTIRUN,
                                           from_shell=False)
            except HydraException as err:
                unknown = re.search(r"Could not find 'hydra/launcher/([^']+)'", str(err))
                why = (f"no launcher '{unknown.group(1)}'" if unknown
                       else str(err).splitlines()[0])
                raise UserError(f"{' '.join(launcher_overrides)}: {why} "
                                f"({_launchers_hint(hydra, unknown and unknown.group(1))})") from None
            yield hydra, cfg
    finally:
        GlobalHydra.instance().clear()


def _launchers_hint(hydra, asked: str | None) -> str:
    """The launchers installed here (the closest to the one asked for), and how to get the
    others."""
    installed = [name for name in hydra.config_loader.get_group_options("hydra/launcher")
                 if name != "basic"]
    missing = [plugin for plugin, names in LAUNCHER_PLUGINS.items()
               if not any(name in installed for name in names)]
    hint = f"installed launchers: {', '.join(installed) or 'none'}"
    closest = difflib.get_close_matches(asked, installed, n=1) if asked else []
    if closest:
        hint += f"; did you mean hydra/launcher={closest[0]}?"
    return hint + (f"; others need their plugin: pip install {' '.join(missing)}" if missing else "")


def check_launcher(launcher_overrides: list[str]) -> None:
    """Fail before a sweep folder exists when the launcher settings do not compose."""
    with _launcher_config(launcher_overrides, Path.cwd()):
        pass


class HydraLauncherExecutor:
    """The jobs go to the launcher all at once; it returns when they have all ended."""

    def __init__(self, launcher_overrides: list[str], parallel: int, console: Console):
        self.launcher_overrides = launcher_overrides
        self.parallel = parallel
        self.console = console

    def run(self, state: SweepState, jobs: list[JobState]) -> None:
        for job in jobs:
            state.start_attempt(job)
        self.console.print(f"launching {len(jobs)} jobs: {' '.join(self.launcher_overrides)}",
                           highlight=False)
        for job, outcome in zip(jobs, self._launch(state, jobs)):
            state.record(job, outcome)
            self.console.print(f"{job.name} {outcome_text(job)}", highlight=False)

    def _launch(self, state: SweepState, jobs: list[JobState]) -> list[Outcome]:
        """Per job, run_job's outcome or the launcher's error."""
        task = LaunchedJob(str(state.folder.resolve()), jobs, self.parallel,
                           [str(folder) for folder in state.config_paths])
        with _launcher_config(self.launcher_overrides, state.folder) as (hydra, cfg):
            launcher = Plugins.instance().instantiate_launcher(
                hydra_context=HydraContext(config_loader=hydra.config_loader,
                                           callbacks=Callbacks(cfg)),
                task_function=task, config=cfg)
            try:
                results = launcher.launch([[f"job_index={i}"] for i in range(len(jobs))], 0)
            except Exception as err:  # noqa: BLE001 - whatever the launcher raised ends every job
                return [_launcher_failure(err)] * len(jobs)
        return [_outcome(result) for result in results]


def _outcome(result: JobReturn) -> Outcome:
    try:
        return result.return_value  # raises what the task raised
    except Exception as err:  # noqa: BLE001
        return _launcher_failure(err)


def _launcher_failure(error: Exception) -> Outcome:
    return Outcome(FAILED, exit_code=None, error=f"launcher: {_last_line(error)}",
                   wall_seconds=None)


def _last_line(error: object) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__
