"""Weights & Biases: one W&B run per afa run, in the project logger.experiment, with the config
and metrics by step. Offline unless asked otherwise: the run's files go to <run>/wandb/, and
`wandb sync` sends them when wanted."""

from __future__ import annotations

import os
from pathlib import Path

import wandb
from omegaconf import DictConfig, OmegaConf

from afa_cli.config.schema import WandbMode
from afa_cli.tracking.tracker import Target, Tracker, require_reachable


class WandbTracker(Tracker):
    NAME = "wandb"

    def __init__(self, run: "wandb.Run", mode: str):
        self.wandb_run, self.mode = run, mode

    @staticmethod
    def check(settings: DictConfig) -> None:
        if mode(settings) == WandbMode.online:
            server = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")
            require_reachable(server, f"The W&B server {server}",
                              "log offline (logger.wandb.mode=offline) and wandb sync later")

    @classmethod
    def start(cls, settings: DictConfig, target: Target) -> "WandbTracker":
        known = target.run.trackers().get(cls.NAME)
        chosen_mode = mode(settings)
        wandb_run = wandb.init(
            dir=str(target.run.path), project=target.experiment, entity=settings.entity,
            id=known["run_id"] if known else None, resume="allow", mode=chosen_mode,
            name=target.run.path.name,
            config=OmegaConf.to_container(target.config, resolve=True, enum_to_str=True),
            # quiet, and not capturing the console: the training display owns it
            settings=wandb.Settings(silent=True, console="off"))
        if known is None:
            target.run.write_tracker(cls.NAME, {"run_id": wandb_run.id})
        return cls(wandb_run, chosen_mode)

    @property
    def where(self) -> str:
        folder = Path(self.wandb_run.dir).parent  # the run's own folder under <run>/wandb/
        return (f"W&B run {self.wandb_run.id} (offline: wandb sync {folder})"
                if self.mode == WandbMode.offline else f"W&B {self.wandb_run.url}")

    def log(self, step: int, scalars: dict[str, float], time: float) -> None:
        # W&B takes no timestamp. It keeps a run's steps increasing itself: the steps a resume
        # repeats are W&B's to drop.
        self.wandb_run.log(scalars, step=step)

    def finish(self, completed: bool) -> None:
        self.wandb_run.finish(exit_code=0 if completed else 1)


def mode(settings: DictConfig) -> str:
    """logger.wandb.mode, else $WANDB_MODE, else offline."""
    return str(settings.mode or os.environ.get("WANDB_MODE") or WandbMode.offline)


TRACKER = WandbTracker
