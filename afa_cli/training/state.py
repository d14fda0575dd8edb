"""Everything checkpoints/last holds beyond the weights, so that a resumed run continues
exactly: progress, optimizer, schedule, AFA, and every process's random states."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch

from afa_cli import distributed
from afa_cli.afa.method import AFA
from afa_cli.errors import UserError


@dataclass
class Progress:
    """Where training stands."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best_value: float | None = None   # of train.best_metric; None before the first evaluation
    best_step: int = -1
    evals_without_improvement: int = 0
    train_seconds: float = 0.0
    train_examples: int = 0
    done: bool = False

    def advance(self, examples: int, seconds: float) -> None:
        self.step += 1
        self.batch_in_epoch += 1
        self.train_seconds += seconds
        self.train_examples += examples

    def next_epoch(self) -> None:
        self.epoch += 1
        self.batch_in_epoch = 0


def seed_everything(seed: int) -> None:
    """Every global source of randomness, in one place. AFA's masker and discriminator seed
    their own generators (afa/method.py)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class TrainingState:
    """The resumable state of one process; `state_dict` and `load_state_dict` mirror each other."""

    progress: Progress
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    afa: AFA | None
    ctx: distributed.Context

    def _random_states(self) -> dict:
        cuda = self.ctx.device.type == "cuda"
        return {"python": random.getstate(), "numpy": np.random.get_state(),
                "torch": torch.get_rng_state(),
                "masker": self.afa.generator.get_state() if self.afa is not None else None,
                "cuda": torch.cuda.get_rng_state(self.ctx.device) if cuda else None}

    def _restore_random_states(self, states: dict) -> None:
        random.setstate(states["python"])
        np.random.set_state(states["numpy"])
        torch.set_rng_state(states["torch"])
        if self.afa is not None:
            self.afa.generator.set_state(states["masker"])  # drawn for this process's share
        if self.ctx.device.type == "cuda" and states["cuda"] is not None:
            torch.cuda.set_rng_state(states["cuda"], self.ctx.device)

    def state_dict(self) -> dict:
        """Collective: every process's random states go into rank 0's checkpoint."""
        return {
            "progress": vars(self.progress).copy(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "afa": self.afa.state_dict() if self.afa is not None else None,
            "rng": self.ctx.gather_objects(self._random_states()),
        }

    def load_state_dict(self, state: dict, run_path: str) -> None:
        random_states = state["rng"]
        if len(random_states) != self.ctx.world_size:
            raise UserError(f"{run_path} was trained by {len(random_states)} process(es); resume "
                            f"it with as many (torchrun --nproc_per_node {len(random_states)}).")
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        saved = dict(state["progress"])
        if "best_accuracy" in saved:  # checkpoints from before train.best_metric
            saved["best_value"] = saved.pop("best_accuracy")
        self.progress.__init__(**saved)
        if self.afa is not None:
            self.afa.load_state_dict(state["afa"])
        self._restore_random_states(random_states[self.ctx.rank])
