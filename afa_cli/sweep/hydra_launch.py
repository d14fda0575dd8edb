"""Running a sweep's jobs through a Hydra launcher plugin (hydra/launcher=submitit_slurm,
submitit_local, joblib, ...) instead of local processes.

The launcher only decides where and when a job runs. Each launched job is the same `afa train`
process a local sweep starts (launch.run_job), writing into the same sweep folder, so summary and
--resume do not depend on how the jobs ran. Hydra composes a small config of its own here: the
launcher's settings plus `job_index`, the job a launched task runs."""

from __future__ import annotations

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

from afa_cli.errors import UserError

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
    SLURM node, for instance), so it carries only plain values and imports afa there."""

    sweep_dir: str
    jobs: list[dict]
    parallel: int
    config_dir: str | None

    def __call__(self, cfg: DictConfig) -> dict:
        from afa_cli.distributed import available_cores
        from afa_cli.sweep.launch import run_job

        job = self.jobs[cfg.job_index]
        # the cores of the machine the job landed on, shared by the jobs it runs at once
        threads = max(1, available_cores() // self.parallel)
        return run_job(Path(self.sweep_dir), job, threads, self.config_dir, {})


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
                raise UserError(f"{' '.join(launcher_overrides)}: {str(err).splitlines()[0]} "
                                "(a launcher needs its plugin: pip install "
                                "hydra-submitit-launcher or hydra-joblib-launcher)") from None
            yield hydra, cfg
    finally:
        GlobalHydra.instance().clear()


def check(launcher_overrides: list[str]) -> None:
    """Fail before a sweep folder exists when the launcher settings do not compose."""
    with _launcher_config(launcher_overrides, Path.cwd()):
        pass


def launch(sweep_dir: Path, jobs: list[dict], launcher_overrides: list[str], parallel: int,
           config_dir: str | None) -> list[dict | str]:
    """Run `jobs` through the launcher; per job, run_job's outcome or the launcher's error."""
    task = LaunchedJob(str(sweep_dir.resolve()), jobs, parallel, config_dir)
    with _launcher_config(launcher_overrides, sweep_dir) as (hydra, cfg):
        launcher = Plugins.instance().instantiate_launcher(
            hydra_context=HydraContext(config_loader=hydra.config_loader, callbacks=Callbacks(cfg)),
            task_function=task, config=cfg)
        try:
            results = launcher.launch([[f"job_index={i}"] for i in range(len(jobs))], 0)
        except Exception as err:  # noqa: BLE001 - whatever the launcher raised ends every job here
            return [f"launcher: {_last_line(err)}"] * len(jobs)
    return [_outcome(result) for result in results]


def _outcome(result: JobReturn) -> dict | str:
    try:
        return result.return_value  # raises what the task raised
    except Exception as err:  # noqa: BLE001
        return f"launcher: {_last_line(err)}"


def _last_line(error: object) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__
